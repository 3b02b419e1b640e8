"""Training options from a file: a TOML file of option values, or a run's config.json.

A file's values count as given options: they override the preset, and the command line's flags
override them (merge_options). The checks here are the file's own (known keys, their types);
TrainConfig checks the merged values as it checks flags.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from pathlib import Path
from types import UnionType
from typing import Any

from textgan.config import CRITIC_OPTIONS, TrainConfig, parameter_applies
from textgan.errors import TextganError
from textgan.objectives.registry import LOSSES, parameter_fields

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 has the same parser as the tomli package
    import tomli as tomllib

PRESET_KEY = "preset"


def option_types() -> dict[str, Any]:
    """The train command's options built from TrainConfig (fields with a help text): name ->
    the type of a given value (int, float, str, bool, or a tuple of floats such as betas' two;
    None means "not given")."""
    hints = typing.get_type_hints(TrainConfig)
    types = {}
    for f in dataclasses.fields(TrainConfig):
        if "help" in f.metadata:
            hint = hints[f.name]  # X or X | None
            unions = (typing.Union, UnionType)
            kinds = typing.get_args(hint) if typing.get_origin(hint) in unions else (hint,)
            types[f.name] = next(kind for kind in kinds if kind is not type(None))
    return types


def read_options_file(path: Path) -> dict[str, Any]:
    """The options a file gives, under their field names (`preset` included when given).

    `*.json` is read as a run's config.json: its keys that are options are taken (a null value
    counts as not given) and the others (the corpus's path, what a later textgan writes) are
    ignored. Anything else is read as TOML, whose keys must all be options, spelt with dashes or
    underscores. Every problem is a TextganError of one line naming the file and the key or
    line: unreadable, malformed, an unknown or repeated key, a value of the wrong type.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise TextganError(f"cannot read {path}: not UTF-8 (byte {err.start})") from err
    except OSError as err:
        raise TextganError(f"cannot read {path}: {err.strerror or err}") from err
    is_json = path.suffix.lower() == ".json"
    try:
        data = json.loads(text) if is_json else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        raise TextganError(f"cannot parse {path}: {err}") from err
    if not isinstance(data, dict):
        raise TextganError(f"{path} is not a JSON object of options")
    types = option_types()
    options: dict[str, Any] = {}
    spelt: dict[str, str] = {}  # field name -> the key as the file spells it
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in types and name != PRESET_KEY:
            if is_json:
                continue  # a path, a version, a field that is not an option
            raise TextganError(f"{path}: unknown option {key!r} ({_suggestion(name, types)})")
        if name in spelt:
            raise TextganError(f"{path}: {key!r} and {spelt[name]!r} are the same option")
        spelt[name] = key
        if value is None and is_json:
            continue
        options[name] = _typed(path, key, value, types.get(name, str))
    return options


def merge_options(from_file: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The file's options overridden by the given (non-None) ones, less the file's values that a
    given option makes inapplicable: `--constraint clip` drops the file's gp_weight, `--loss mle`
    its critic's options (and --engine fused), a GAN's --loss its --lm; and the file's learning
    rates as _file_rates says."""
    from_file = _file_rates(from_file, given)
    merged = {**from_file, **given}
    if given.get("loss") in LOSSES:
        language_model = not LOSSES[given["loss"]].needs_critic
        dropped = CRITIC_OPTIONS if language_model else ("lm",)
        if language_model and from_file.get("engine") == "fused":
            dropped = (*dropped, "engine")
        for name in dropped:
            if name in from_file and name not in given:
                del merged[name]
    for name in parameter_fields():
        decided = name in from_file and name not in given and "constraint" in given
        if decided and not parameter_applies(name, merged["constraint"]):
            del merged[name]
    return merged


def _file_rates(from_file: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """A file's learning rates under the flags': a flag --lr overrides the file's per-network
    rates; where the file has both per-network rates, its --lr gives way to them (so only --lr
    given on the command line with both per-network rates is refused)."""
    per_network = ("lr_critic", "lr_generator")
    if "lr" in given:
        return {k: v for k, v in from_file.items() if k not in per_network}
    if all(from_file.get(k) is not None or k in given for k in per_network):
        return {k: v for k, v in from_file.items() if k != "lr"}
    return from_file


def _typed(path: Path, key: str, value: Any, kind: Any) -> Any:
    """value as an option of type kind (an int is a float too; a tuple of floats from a list of
    as many numbers), or a TextganError."""
    if typing.get_origin(kind) is tuple:
        members = typing.get_args(kind)
        if isinstance(value, list) and len(value) == len(members):
            return tuple(_typed(path, key, v, m) for v, m in zip(value, members, strict=True))
        raise TextganError(f"{path}: {key} must be a list of {len(members)} numbers, got "
                           f"{json.dumps(value, default=str)}")  # fmt: skip
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is not bool and isinstance(value, bool)):
        return value
    wanted = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[kind]
    raise TextganError(f"{path}: {key} must be {wanted}, got {json.dumps(value, default=str)}")


def _suggestion(name: str, types: dict[str, type]) -> str:
    import difflib

    close = difflib.get_close_matches(name, [*types, PRESET_KEY], n=1)
    if close:
        return f"did you mean {close[0].replace('_', '-')}?"
    return "the options are those of textgan train --help"

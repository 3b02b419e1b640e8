"""The one schema of a checkpoint: the Checkpoint dataclass, whose field names are the saved
payload's keys, its conversion to and from that payload, and the upgrades of older formats."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from textgan.errors import TextganError
from textgan.models.build import BUILTIN_MODELS

FORMAT = "textgan-checkpoint"
FORMAT_VERSION = 4  # 4: a run may be a language model (--loss mle): its model is saved as the
# generator, and it has no critic (critic and opt_c None); 3: the run's loss, constraint,
# optimiser, critic norm and model classes; 2: conv weights are (kernel, in, out); 1 had
# nn.Conv1d's (out, in, kernel)
READABLE_VERSIONS = (1, 2, 3, FORMAT_VERSION)

StateDict = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Checkpoint(Mapping[str, Any]):
    """Everything a run saves, by name: reading it by key (`checkpoint["iteration"]`) gives
    the same values as its attributes, as in the saved payload."""

    iteration: int
    config: dict[str, Any]  # TrainConfig.to_dict(): the run's options
    model: dict[str, Any]  # the ModelConfig's fields
    vocab: bytes  # the serialized sentencepiece model
    generator: StateDict
    generator_ema: StateDict | None = None  # the average of the generator's weights (--g-ema)
    critic: StateDict | None  # None: a run that trains no critic
    models: dict[str, str] = dataclasses.field(default_factory=lambda: dict(BUILTIN_MODELS))
    opt_g: StateDict | None = None
    opt_c: StateDict | None = None
    rng: dict[str, Any] | None = None  # noise, alpha: generator states; sampler: data order
    corpus: str | None = None
    heldout: str | None = None
    seconds: float = 0.0  # training time up to this iteration, earlier processes' included
    textgan_version: str | None = None

    def to_payload(self) -> dict[str, Any]:
        """What torch.save writes: the format's name and version, then every field."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **fields}

    @classmethod
    def from_payload(cls, payload: object, source: str = "the checkpoint") -> Checkpoint:
        """A loaded payload, validated and upgraded to the current format."""
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise TextganError(f"{source} is not a textgan checkpoint")
        version = payload.get("format_version")
        if version not in READABLE_VERSIONS:
            raise TextganError(f"{source} was written by another textgan version (format "
                               f"{version}, this one reads 1 to {FORMAT_VERSION})")  # fmt: skip
        if missing := [
            f.name for f in dataclasses.fields(cls) if _required(f) and f.name not in payload
        ]:
            raise TextganError(f"{source} is incomplete: missing {', '.join(missing)}")
        payload = upgrade(dict(payload))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in known})

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dataclass_fields__)

    def __len__(self) -> int:
        return len(self.__dataclass_fields__)


def upgrade(payload: dict[str, Any]) -> dict[str, Any]:
    """An older payload in the current format. Format 1 → 2: conv weights, and their Adam
    moments, go from (out, in, kernel) to (kernel, in, out) (the nets have no buffers, so their
    state-dict order is the optimisers' parameter order). 2 → 3: the run was WGAN-GP with Adam
    on the built-in models, which the config's defaults for the new options already say. 3 → 4:
    every format-3 run trained a critic, which it holds, as format 4 says such a run does."""
    if payload["format_version"] == 1:
        for net, optimizer in (("generator", "opt_g"), ("critic", "opt_c")):
            moments = (payload.get(optimizer) or {}).get("state", {})
            for index, (name, weight) in enumerate(list(payload[net].items())):
                if weight.dim() != 3:
                    continue
                payload[net][name] = _kernel_first(weight)
                for key, value in moments.get(index, {}).items():
                    if key in ("exp_avg", "exp_avg_sq"):
                        moments[index][key] = _kernel_first(value)
        payload["format_version"] = 2
    if payload["format_version"] == 2:
        payload["models"] = dict(BUILTIN_MODELS)
        payload["format_version"] = 3
    if payload["format_version"] == 3:
        payload["format_version"] = 4
    return payload


def _kernel_first(weight: torch.Tensor) -> torch.Tensor:  # (out, in, K) → (K, in, out)
    return weight.permute(2, 1, 0).contiguous()


def _required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING

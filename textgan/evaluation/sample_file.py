"""Scoring a text file of samples that textgan did not generate (another toolkit's, a paper's)
with the measures of a run's evaluations, against a corpus: no run needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textgan.config import TrainConfig
from textgan.data.corpus import encode_corpus
from textgan.errors import TextganError
from textgan.evaluation.evaluator import Evaluator

BINARY_PROBE = 65536  # a NUL byte this early means a binary file


def read_samples(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file, one sample per line, without their line endings.

    A blank line is an empty sample (a generator may write one); a file without any non-blank
    line, a binary file or one that is not UTF-8 is refused.
    """
    path = Path(path)
    if not path.exists():
        raise TextganError(f"samples file {path} does not exist")
    if path.is_dir():
        raise TextganError(f"samples file {path} is a directory, not a text file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TextganError(f"cannot read samples file {path}: {err.strerror or err}") from err
    if b"\x00" in data[:BINARY_PROBE]:
        raise TextganError(f"{path} looks like a binary file, not UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise TextganError(f"{path} is not UTF-8 text: undecodable bytes on line {line}") from err
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()  # the file's last line break ends a line, it starts none
    if not any(line.strip() for line in lines):
        raise TextganError(f"{path} holds no samples (it is empty or blank)")
    return lines


def evaluate_sample_file(
    samples: str | Path,
    corpus: str | Path,
    heldout: str | Path | None = None,
    seq_len: int | None = None,
) -> dict[str, Any]:
    """`samples` (the number of lines) and every measure of the file's lines, each cut or padded
    to seq_len characters (default: TrainConfig's) as a run's samples are, then the validation
    floor; against corpus (its held-out text: heldout, its `_heldout` sibling, or lines set
    aside as a run with the default --holdout and --seed sets them aside). Characters outside
    the corpus's vocabulary count as unknown. The file is read before the corpus."""
    lines = read_samples(samples)
    defaults = TrainConfig() if seq_len is None else TrainConfig(seq_len=seq_len)
    encoded = encode_corpus(corpus, defaults.seq_len, defaults.max_vocab, heldout=heldout,
                            holdout=defaults.holdout, seed=defaults.seed)  # fmt: skip
    evaluator = Evaluator(encoded, len(lines), defaults.seed)
    ids = encoded.vocab.encode_lines(lines, defaults.seq_len)  # (n, seq_len)
    return {"samples": len(lines), **evaluator.score(ids).scores, **evaluator.floor}

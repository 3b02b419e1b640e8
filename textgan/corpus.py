"""Read a text corpus: strict UTF-8, one example per line, blank lines skipped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textgan.errors import TextganError
from textgan.vocab import Vocab, train_vocab

BILLION_WORDS_HINT = (
    "get it with `textgan corpus billion-words` (or `textgan corpus billion-words "
    "--max-lines 200000` for a quick start)"
)


def read_lines(path: str | Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file, without their line endings."""
    path = Path(path)
    data = _read_bytes(path)
    if b"\x00" in data[:65536]:
        raise TextganError(f"{path} looks like a binary file, not UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line_no = data.count(b"\n", 0, err.start) + 1
        raise TextganError(
            f"{path} is not UTF-8 text: undecodable bytes on line {line_no}"
        ) from err
    lines = [line.rstrip("\r") for line in text.split("\n")]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise TextganError(f"{path} has no text lines (it is empty or blank)")
    return lines


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        hint = f"; {BILLION_WORDS_HINT}" if path.name == "billion_words.txt" else ""
        raise TextganError(f"corpus {path} does not exist{hint}")
    if path.is_dir():
        raise TextganError(f"corpus {path} is a directory, not a text file")
    try:
        return path.read_bytes()
    except OSError as err:
        raise TextganError(f"cannot read corpus {path}: {err.strerror or err}") from err


@dataclass(frozen=True)
class EncodedCorpus:
    """A corpus as fixed-length ids, and the vocabulary that encoded it."""

    vocab: Vocab
    ids: np.ndarray  # (N, seq_len) uint8 or uint16, PAD_ID-padded
    lines: list[str]


def encode_corpus(
    path: str | Path, seq_len: int, max_vocab: int, vocab: Vocab | None = None
) -> EncodedCorpus:
    """Read a corpus, build its vocabulary on the lines as cut to seq_len (unless given), encode."""
    lines = read_lines(path)
    if vocab is None:
        vocab = train_vocab((line[:seq_len] for line in lines), max_vocab)
    return EncodedCorpus(vocab, vocab.encode_lines(lines, seq_len), lines)

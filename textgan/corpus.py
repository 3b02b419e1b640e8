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


def sibling_heldout(corpus: Path) -> Path | None:
    """`X.txt` or `X_train.txt` → `X_heldout.txt` beside it, if that file exists."""
    stem = corpus.stem.removesuffix("_train")
    candidate = corpus.with_name(f"{stem}_heldout{corpus.suffix}")
    return candidate if candidate != corpus and candidate.is_file() else None


@dataclass(frozen=True)
class Split:
    """Training lines and the held-out lines they are measured against (never trained on)."""

    train: list[str]
    heldout: list[str]
    heldout_source: str  # a file path, or "N lines set aside from the corpus"


def split_corpus(corpus: str | Path, heldout: str | Path | None, holdout: int, seed: int) -> Split:
    """Read the corpus and its held-out text: --heldout, else a `_heldout` sibling, else
    `holdout` lines (at most a tenth) of the corpus set aside reproducibly (by seed)."""
    corpus = Path(corpus)
    lines = read_lines(corpus)
    heldout = Path(heldout) if heldout is not None else sibling_heldout(corpus)
    if heldout is not None:
        return Split(lines, read_lines(heldout), str(heldout))
    holdout = min(holdout, len(lines) // 10)  # never more than a tenth of a small corpus
    if holdout < 1:
        raise TextganError(
            f"{corpus} has {len(lines)} lines: too few to set any aside for evaluation"
        )
    order = np.random.default_rng(seed).permutation(len(lines))
    aside = set(order[:holdout].tolist())
    train = [line for i, line in enumerate(lines) if i not in aside]
    return Split(
        train, [lines[i] for i in sorted(aside)], f"{holdout} lines set aside from {corpus}"
    )


@dataclass(frozen=True)
class EncodedCorpus:
    """Training and held-out lines as fixed-length ids, and the vocabulary that encoded them."""

    vocab: Vocab
    split: Split
    ids: np.ndarray  # (N, seq_len) uint8 or uint16, PAD_ID-padded: the training lines
    heldout_ids: np.ndarray  # (M, seq_len)


def encode_corpus(
    corpus: str | Path,
    seq_len: int,
    max_vocab: int,
    *,
    heldout: str | Path | None = None,
    holdout: int = 640,
    seed: int = 0,
    vocab: Vocab | None = None,
) -> EncodedCorpus:
    """Split the corpus, build the vocabulary on the training lines as cut to seq_len (unless
    given), and encode both sides."""
    split = split_corpus(corpus, heldout, holdout, seed)
    if vocab is None:
        vocab = train_vocab((line[:seq_len] for line in split.train), max_vocab)
    return EncodedCorpus(
        vocab,
        split,
        vocab.encode_lines(split.train, seq_len),
        vocab.encode_lines(split.heldout, seq_len),
    )

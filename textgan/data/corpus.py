"""Read a text corpus (strict UTF-8, one example per line, blank lines skipped) and encode it,
cached beside the corpus (textgan/cache.py) so the next run loads it in seconds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from textgan.config import PAPER_EVAL_LINES
from textgan.data import cache
from textgan.data.vocab import Vocab, train_vocab
from textgan.errors import TextganError

BILLION_WORDS_HINT = (
    "get it with `textgan corpus billion-words` (or `textgan corpus billion-words "
    "--max-lines 200000` for a quick start)"
)
READ_BLOCK = 1 << 23  # bytes read at a time: --max-lines N reads only as far as it must
BINARY_PROBE = 65536  # a NUL byte this early means a binary file
VOCAB_PACK = 16_000  # characters per string handed to sentencepiece (< its 64 KiB limit)
ENCODE_ROWS = 1 << 16  # lines encoded at a time, which bounds the encoder's scratch memory


def read_lines(path: str | Path, max_lines: int | None = None) -> list[str]:
    """The first max_lines (default: all) non-blank lines of a UTF-8 text file, without their
    line endings."""
    path = Path(path)
    _check_is_file(path)
    lines: list[str] = []
    try:
        with path.open("rb") as f:
            for text in _decoded_blocks(f, path):
                lines += [line for line in _split(text) if line and not line.isspace()]
                if max_lines is not None and len(lines) >= max_lines:
                    del lines[max_lines:]
                    break
    except OSError as err:
        raise TextganError(f"cannot read corpus {path}: {err.strerror or err}") from err
    if not lines:
        raise TextganError(f"{path} has no text lines (it is empty or blank)")
    return lines


def _check_is_file(path: Path) -> None:
    if not path.exists():
        hint = f"; {BILLION_WORDS_HINT}" if path.name == "billion_words.txt" else ""
        raise TextganError(f"corpus {path} does not exist{hint}")
    if path.is_dir():
        raise TextganError(f"corpus {path} is a directory, not a text file")


def _decoded_blocks(f: IO[bytes], path: Path) -> Iterator[str]:
    """The file's text in pieces that end at a line break (all but perhaps the last)."""
    line_no, pending = 1, b""
    while block := f.read(READ_BLOCK):
        if line_no == 1 and not pending and b"\x00" in block[:BINARY_PROBE]:
            raise TextganError(f"{path} looks like a binary file, not UTF-8 text")
        data = pending + block
        end = data.rfind(b"\n") + 1
        data, pending = data[:end], data[end:]
        if data:
            yield _decode(data, path, line_no)
            line_no += data.count(b"\n")
    if pending:
        yield _decode(pending, path, line_no)


def _decode(data: bytes, path: Path, first_line: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line_no = first_line + data.count(b"\n", 0, err.start)
        raise TextganError(
            f"{path} is not UTF-8 text: undecodable bytes on line {line_no}"
        ) from err


def _split(text: str) -> list[str]:
    lines = text.split("\n")
    return [line.rstrip("\r") for line in lines] if "\r" in text else lines


def sibling_heldout(corpus: Path) -> Path | None:
    """`X.txt` or `X_train.txt` → `X_heldout.txt` beside it, if that file exists."""
    stem = corpus.stem.removesuffix("_train")
    candidate = corpus.with_name(f"{stem}_heldout{corpus.suffix}")
    return candidate if candidate != corpus and candidate.is_file() else None


@dataclass(frozen=True, eq=False)
class Split:
    """Training lines and the held-out lines they are measured against (never trained on).

    `train` and `heldout` are read from the text files when first asked for (a cached
    encoding does not need them; evaluation does).
    """

    corpus: Path
    heldout_file: Path | None  # None: the `aside` corpus lines are the held-out text
    aside: np.ndarray  # (K,) sorted line numbers of the corpus set aside; empty with a file
    num_lines: int  # corpus lines used (the first --max-lines), set-aside ones included
    max_lines: int | None
    heldout_source: str  # a file path, or "N lines set aside from the corpus"
    _text: list[tuple[list[str], list[str]]] = field(default_factory=list, repr=False)

    @property
    def train(self) -> list[str]:
        return self._lines()[0]

    @property
    def heldout(self) -> list[str]:
        return self._lines()[1]

    def _lines(self) -> tuple[list[str], list[str]]:
        if not self._text:
            lines = read_lines(self.corpus, self.max_lines)
            if len(lines) != self.num_lines:
                raise TextganError(f"{self.corpus} changed while in use: run again")
            self._text.append(_set_aside(lines, self.aside, self.heldout_file))
        return self._text[0]


def _set_aside(
    lines: list[str], aside: np.ndarray, heldout_file: Path | None
) -> tuple[list[str], list[str]]:
    if heldout_file is not None:
        return lines, read_lines(heldout_file)
    train: list[str] = []
    start = 0
    for i in aside.tolist():  # sorted
        train += lines[start:i]
        start = i + 1
    return train + lines[start:], [lines[i] for i in aside]


def split_corpus(
    corpus: str | Path,
    heldout: str | Path | None,
    holdout: int,
    seed: int,
    max_lines: int | None = None,
) -> Split:
    """Read the first max_lines of the corpus and its held-out text: --heldout, else a
    `_heldout` sibling, else `holdout` lines (at most a tenth) set aside reproducibly (by seed)."""
    corpus = Path(corpus)
    lines = read_lines(corpus, max_lines)
    heldout_file = _heldout_file(corpus, heldout)
    aside = np.zeros(0, dtype=np.int64)
    if heldout_file is None:
        holdout = min(holdout, len(lines) // 10)  # never more than a tenth of a small corpus
        if holdout < 1:
            raise TextganError(
                f"{corpus} has {len(lines)} lines: too few to set any aside for evaluation"
            )
        order = np.random.default_rng(seed).permutation(len(lines))
        aside = np.sort(order[:holdout]).astype(np.int64)
    text = _set_aside(lines, aside, heldout_file)
    return _make_split(corpus, heldout_file, aside, len(lines), max_lines, text)


def _heldout_file(corpus: Path, heldout: str | Path | None) -> Path | None:
    return Path(heldout) if heldout is not None else sibling_heldout(corpus)


def _make_split(
    corpus: Path,
    heldout_file: Path | None,
    aside: np.ndarray,
    num_lines: int,
    max_lines: int | None,
    text: tuple[list[str], list[str]] | None = None,
) -> Split:
    """A split whose lines are `text` (train, held-out), or are read when first asked for."""
    source = str(heldout_file) if heldout_file else f"{len(aside)} lines set aside from {corpus}"
    return Split(corpus, heldout_file, aside, num_lines, max_lines, source, [text] if text else [])


@dataclass(frozen=True)
class EncodedCorpus:
    """Training and held-out lines as fixed-length ids, and the vocabulary that encoded them."""

    vocab: Vocab
    split: Split
    ids: np.ndarray  # (N, seq_len) uint8 or uint16, PAD_ID-padded: the training lines
    heldout_ids: np.ndarray  # (M, seq_len)
    cached: bool = False  # True: loaded from the cache (read-only memory maps), not encoded now
    cache_dir: Path | None = None  # where the encoding is cached; None: it could not be


def encode_corpus(
    corpus: str | Path,
    seq_len: int,
    max_vocab: int,
    *,
    heldout: str | Path | None = None,
    holdout: int = PAPER_EVAL_LINES,
    seed: int = 0,
    vocab: Vocab | None = None,
    max_lines: int | None = None,
    use_cache: bool = True,
    other_text: bool = False,
) -> EncodedCorpus:
    """Split the corpus, build the vocabulary on the training lines as cut to seq_len (unless
    given), and encode both sides; or load all that from the cache beside the corpus.

    A given vocabulary is a run's: the corpus must have the characters it was built from (a run
    never resumes on other text) unless other_text (scoring a run against another text).
    """
    corpus = Path(corpus)
    _check_is_file(corpus)
    heldout_file = _heldout_file(corpus, heldout)
    settings = dict(seq_len=seq_len, max_vocab=max_vocab, max_lines=max_lines, holdout=holdout,
                    seed=seed)  # fmt: skip
    proto = vocab.model_proto if vocab is not None else None
    dirs = cache.encoding_dirs(corpus, heldout_file, proto, settings) if use_cache else []
    own = cache.load_encoding(dirs[0]) if dirs else None  # built without a given vocabulary
    if vocab is not None and not other_text:
        own_vocab = Vocab(own.vocab_proto) if own is not None else None
        if own_vocab is None:
            split = split_corpus(corpus, heldout, holdout, seed, max_lines)
            own_vocab = train_vocab(_packed(split.train, seq_len), max_vocab)
        _require_same_characters(corpus, own_vocab, vocab)
    if (hit := cache.find_encoding(dirs, proto, own)) is not None:
        return _from_cache(*hit, corpus, heldout_file, max_lines, vocab)
    split = split_corpus(corpus, heldout, holdout, seed, max_lines)
    if vocab is None:
        vocab = train_vocab(_packed(split.train, seq_len), max_vocab)
    ids, heldout_ids = _encode(vocab, split.train, seq_len), _encode(vocab, split.heldout, seq_len)
    encoding = cache.CachedEncoding(vocab.model_proto, ids, heldout_ids, split.aside,
                                    split.num_lines)  # fmt: skip
    saved = bool(dirs) and cache.save_encoding(dirs[-1], encoding)
    return EncodedCorpus(vocab, split, ids, heldout_ids, False, dirs[-1] if saved else None)


def cached_corpus(
    corpus: str | Path,
    seq_len: int,
    max_vocab: int,
    *,
    heldout: str | Path | None = None,
    holdout: int = PAPER_EVAL_LINES,
    seed: int = 0,
    vocab: Vocab | None = None,
    max_lines: int | None = None,
) -> EncodedCorpus | None:
    """What encode_corpus returns for these arguments when the cache beside the corpus holds
    it, else None; reads nothing but the cache and the files' heads."""
    corpus, proto = Path(corpus), vocab.model_proto if vocab is not None else None
    heldout_file = _heldout_file(corpus, heldout)
    settings = dict(seq_len=seq_len, max_vocab=max_vocab, max_lines=max_lines, holdout=holdout,
                    seed=seed)  # fmt: skip
    hit = cache.find_encoding(cache.encoding_dirs(corpus, heldout_file, proto, settings), proto)
    return None if hit is None else _from_cache(*hit, corpus, heldout_file, max_lines, vocab)


def _require_same_characters(corpus: Path, own: Vocab, given: Vocab) -> None:
    """Refuse a corpus whose own vocabulary has other characters than the run's."""
    new = sorted(set(own.characters) - set(given.characters))
    missing = sorted(set(given.characters) - set(own.characters))
    if new or missing:
        shown = ", ".join(
            f"{label} {''.join(chars[:10])!r}"
            for label, chars in (("new", new), ("missing", missing))
            if chars
        )
        raise TextganError(
            f"{corpus} is not the text the run was trained on: its characters differ ({shown}); "
            "use the run's corpus"
        )


def _from_cache(
    found: cache.CachedEncoding,
    directory: Path,
    corpus: Path,
    heldout_file: Path | None,
    max_lines: int | None,
    vocab: Vocab | None,
) -> EncodedCorpus:
    vocab = vocab if vocab is not None else Vocab(found.vocab_proto)
    split = _make_split(corpus, heldout_file, found.aside, found.num_lines, max_lines)
    return EncodedCorpus(vocab, split, found.ids, found.heldout_ids, True, directory)


def _packed(lines: list[str], seq_len: int) -> Iterator[str]:
    """The lines cut to seq_len, joined VOCAB_PACK // seq_len at a time: a char model counts
    characters only, so this builds the same vocabulary with far fewer calls into sentencepiece."""
    step = max(1, VOCAB_PACK // seq_len)
    for start in range(0, len(lines), step):
        yield "".join([line[:seq_len] for line in lines[start : start + step]])


def _encode(vocab: Vocab, lines: list[str], seq_len: int) -> np.ndarray:
    """vocab.encode_lines a block at a time: (N, seq_len) uint8/uint16."""
    out = np.empty((len(lines), seq_len), dtype=vocab.id_dtype)  # (N, seq_len)
    for start in range(0, len(lines), ENCODE_ROWS):
        block = lines[start : start + ENCODE_ROWS]
        out[start : start + len(block)] = vocab.encode_lines(block, seq_len)
    return out

"""A corpus split into training and held-out lines, encoded in one pass over its text (scan.py)
and cached beside the corpus (cache.py) so the next run loads it in seconds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from textgan.config import PAPER_EVAL_LINES
from textgan.data import cache
from textgan.data.reading import check_is_file, line_blocks, read_lines
from textgan.data.scan import ScannedText, scan
from textgan.data.vocab import Vocab, vocab_from_counts
from textgan.errors import TextganError

ENCODE_ROWS = 1 << 16  # held-out lines encoded at a time, which bounds the scratch memory


def sibling_heldout(corpus: Path) -> Path | None:
    """`X.txt` or `X_train.txt` → `X_heldout.txt` beside it, if that file exists."""
    stem = corpus.stem.removesuffix("_train")
    candidate = corpus.with_name(f"{stem}_heldout{corpus.suffix}")
    return candidate if candidate != corpus and candidate.is_file() else None


@dataclass(frozen=True, eq=False)
class Split:
    """Training lines and the held-out lines they are measured against (never trained on).

    The text is read when asked for (a cached encoding does not need it; evaluation does): the
    training lines as a stream, the held-out ones (a few thousand) once, then kept.
    """

    corpus: Path
    heldout_file: Path | None  # None: the `aside` corpus lines are the held-out text
    aside: np.ndarray  # (K,) sorted line numbers of the corpus set aside; empty with a file
    num_lines: int  # corpus lines used (the first --max-lines), set-aside ones included
    max_lines: int | None
    heldout_source: str  # a file path, or "N lines set aside from the corpus"
    _heldout: list[list[str]] = field(default_factory=list, repr=False)

    def train_lines(self) -> Iterator[str]:
        """The training lines, in order, read a block at a time."""
        for block in self._corpus_blocks():
            yield from block[0]

    @property
    def train(self) -> list[str]:
        """All training lines in one list: for corpora that fit in memory as Python strings."""
        return list(self.train_lines())

    @property
    def heldout(self) -> list[str]:
        if not self._heldout:
            if self.heldout_file is not None:
                self._heldout.append(read_lines(self.heldout_file))
            else:
                self._heldout.append([line for _, aside in self._corpus_blocks() for line in aside])
        return self._heldout[0]

    def _corpus_blocks(self) -> Iterator[tuple[list[str], list[str]]]:
        """(training lines, set-aside lines) of each block of the corpus."""
        start = 0
        for lines in line_blocks(self.corpus, self.max_lines):
            end = start + len(lines)
            local = (self.aside[(self.aside >= start) & (self.aside < end)] - start).tolist()
            aside = set(local)
            train = [line for i, line in enumerate(lines) if i not in aside] if local else lines
            yield train, [lines[i] for i in local]
            start = end
        if start != self.num_lines:
            raise TextganError(f"{self.corpus} changed while in use: run again")


def set_aside(corpus: Path, num_lines: int, holdout: int, seed: int) -> np.ndarray:
    """`holdout` line numbers (at most a tenth), chosen reproducibly by seed: (K,) sorted."""
    holdout = min(holdout, num_lines // 10)  # never more than a tenth of a small corpus
    if holdout < 1:
        raise TextganError(
            f"{corpus} has {num_lines} lines: too few to set any aside for evaluation"
        )
    order = np.random.default_rng(seed).permutation(num_lines)
    return np.sort(order[:holdout]).astype(np.int64)


def _heldout_file(corpus: Path, heldout: str | Path | None) -> Path | None:
    return Path(heldout) if heldout is not None else sibling_heldout(corpus)


def _make_split(
    corpus: Path,
    heldout_file: Path | None,
    aside: np.ndarray,
    num_lines: int,
    max_lines: int | None,
) -> Split:
    source = str(heldout_file) if heldout_file else f"{len(aside)} lines set aside from {corpus}"
    return Split(corpus, heldout_file, aside, num_lines, max_lines, source)


@dataclass(frozen=True)
class EncodedCorpus:
    """Training and held-out lines as fixed-length ids, and the vocabulary that encoded them."""

    vocab: Vocab
    split: Split
    ids: np.ndarray  # (N, seq_len) uint8 or uint16, PAD_ID-padded: the training lines
    heldout_ids: np.ndarray  # (M, seq_len)
    cached: bool = False  # True: loaded from the cache (read-only memory maps), not encoded now
    cache_dir: Path | None = None  # where the encoding is cached; None: it could not be

    def digest(self) -> str:
        """What another machine's encoding of the same files and settings equals."""
        arrays = (self.ids, self.heldout_ids, self.split.aside)
        return cache.encoding_digest(self.vocab.model_proto, arrays)


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
    check_is_file(corpus)
    heldout_file = _heldout_file(corpus, heldout)
    settings = dict(seq_len=seq_len, max_vocab=max_vocab, max_lines=max_lines, holdout=holdout,
                    seed=seed)  # fmt: skip
    proto = vocab.model_proto if vocab is not None else None
    dirs = cache.encoding_dirs(corpus, heldout_file, proto, settings) if use_cache else []
    own = cache.load_encoding(dirs[0]) if dirs else None  # built without a given vocabulary
    check = vocab is not None and not other_text
    if check and own is not None:
        _require_same_characters(corpus, Vocab(own.vocab_proto), vocab)
    usable = own is not None or not check  # else the characters are checked on the text below
    if usable and (hit := cache.find_encoding(dirs, proto, own)) is not None:
        return _from_cache(*hit, corpus, heldout_file, max_lines, vocab)
    scanned = scan(corpus, seq_len, max_lines)
    aside = np.zeros(0, dtype=np.int64)
    if heldout_file is None:
        aside = set_aside(corpus, scanned.num_lines, holdout, seed)
    split = _make_split(corpus, heldout_file, aside, scanned.num_lines, max_lines)
    vocab, ids, heldout_ids = _encode_scanned(scanned, split, seq_len, max_vocab, vocab, check)
    encoding = cache.CachedEncoding(vocab.model_proto, ids, heldout_ids, aside, split.num_lines)
    saved = bool(dirs) and cache.save_encoding(dirs[-1], encoding)
    return EncodedCorpus(vocab, split, ids, heldout_ids, False, dirs[-1] if saved else None)


def _encode_scanned(
    scanned: ScannedText,
    split: Split,
    seq_len: int,
    max_vocab: int,
    vocab: Vocab | None,
    check: bool,
) -> tuple[Vocab, np.ndarray, np.ndarray]:
    """The vocabulary (built from the training lines' character counts unless given) and the
    final ids of the training and held-out lines."""
    aside_rows = scanned.rows(split.aside)  # (K, seq_len) provisional ids
    if vocab is None or check:
        own = vocab_from_counts(scanned.char_counts(without=aside_rows), max_vocab)
        if vocab is not None:
            _require_same_characters(split.corpus, own, vocab)
        vocab = vocab if vocab is not None else own
    table = vocab.ids_of(scanned.codepoints)  # (K,) provisional id → id
    if split.heldout_file is None:
        heldout_ids = table[aside_rows]  # (K, seq_len)
    else:
        heldout_ids = _encode(vocab, split.heldout, seq_len)
    return vocab, scanned.final_ids(table, split.aside), heldout_ids


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


def _encode(vocab: Vocab, lines: list[str], seq_len: int) -> np.ndarray:
    """vocab.encode_lines a block at a time: (N, seq_len) uint8/uint16."""
    out = np.empty((len(lines), seq_len), dtype=vocab.id_dtype)  # (N, seq_len)
    for start in range(0, len(lines), ENCODE_ROWS):
        block = lines[start : start + ENCODE_ROWS]
        out[start : start + len(block)] = vocab.encode_lines(block, seq_len)
    return out

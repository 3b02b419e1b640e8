"""Character n-gram models, Jensen-Shannon scores and word-level measures of generated text.

Character measures work on integer id arrays of shape (N, seq_len) in which padding and unknown are
ordinary symbols, as in the paper's loader. An n-gram of ids is one int64 key (a base-`num_symbols`
number), so a model is a sorted key array with counts, and two models merge by `searchsorted`.

Word measures work on decoded strings with the trailing padding removed: a sample that still has
`seq_len` characters filled every position, so its last word may be cut and is not counted.
"""

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np

from textgan.errors import TextganError

MAX_ORDER = 4
MAX_SYMBOLS = 65536
CHAR_ORDERS = (1, 2, 3, 4)
WORD_ORDERS = 4
MIN_WORD_LEN = 3
_INT64_MAX = int(np.iinfo(np.int64).max)
# Windows keyed at once: few enough to stay in cache (3x faster on 1M lines than all at once).
_CHUNK_WINDOWS = 1 << 21
# A chunk is counted with bincount, not a sort, when the key space is at most this many keys wide.
_BINCOUNT_SPACE_PER_KEY = 4


@dataclass(frozen=True, eq=False)
class NgramModel:
    """Counts of all length-n windows of all rows; keys sorted and unique, probs = counts/total."""

    n: int
    num_symbols: int
    keys: np.ndarray  # (K,) int64
    counts: np.ndarray  # (K,) int64
    probs: np.ndarray  # (K,) float64


@dataclass(frozen=True, eq=False)
class CharModels:
    """Reference character models, one per order, built once from the training ids."""

    num_symbols: int
    models: tuple[NgramModel, ...]


def _check_ids(ids: np.ndarray, n: int, num_symbols: int) -> np.ndarray:
    if not 1 <= num_symbols <= MAX_SYMBOLS:
        raise TextganError(f"num_symbols must be in [1, {MAX_SYMBOLS}], got {num_symbols}")
    if not 1 <= n <= MAX_ORDER:
        raise TextganError(f"n-gram order must be in [1, {MAX_ORDER}], got {n}")
    if num_symbols**n - 1 > _INT64_MAX:
        raise TextganError(f"{n}-gram keys over {num_symbols} symbols do not fit in int64")
    ids = np.asarray(ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise TextganError(f"ids must be a 2-d integer array, got {ids.dtype} of shape {ids.shape}")
    if ids.shape[0] == 0 or ids.shape[1] < n:
        raise TextganError(f"ids of shape {ids.shape} hold no {n}-gram")
    if ids.min() < 0 or ids.max() >= num_symbols:
        raise TextganError(f"ids must lie in [0, {num_symbols}), found {ids.min()}..{ids.max()}")
    return ids


def _window_keys(ids: np.ndarray, n: int, num_symbols: int) -> np.ndarray:
    windows = ids.shape[1] - n + 1
    keys = ids[:, :windows].astype(np.int64)  # (N, windows)
    for offset in range(1, n):
        keys *= num_symbols
        # unsafe: uint64 + int64 would go through float64; the ids were checked to fit.
        np.add(keys, ids[:, offset : offset + windows], out=keys, casting="unsafe")
    return keys.ravel()  # (N·windows,)


def _row_chunks(ids: np.ndarray, n: int) -> list[np.ndarray]:
    rows = max(1, _CHUNK_WINDOWS // (ids.shape[1] - n + 1))
    return [ids[start : start + rows] for start in range(0, ids.shape[0], rows)]


def _sum_runs(ordered: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique keys of sorted `ordered` (M,) and the sums of `counts` (M,) over each run."""
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # (K,)
    return ordered[starts], np.add.reduceat(counts, starts)


def _count_keys(ids: np.ndarray, n: int, num_symbols: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique n-gram keys of all windows and their counts, a chunk of rows at a time."""
    chunks = _row_chunks(ids, n)
    key_space = num_symbols**n
    if key_space <= _BINCOUNT_SPACE_PER_KEY * chunks[0].shape[0] * (ids.shape[1] - n + 1):
        counts = np.zeros(key_space, dtype=np.int64)  # (key_space,)
        for chunk in chunks:
            counts += np.bincount(_window_keys(chunk, n, num_symbols), minlength=key_space)
        present = np.flatnonzero(counts)
        return present.astype(np.int64), counts[present]
    parts = []
    for chunk in chunks:
        keys = np.sort(_window_keys(chunk, n, num_symbols))
        parts.append(_sum_runs(keys, np.ones(keys.size, dtype=np.int64)))
    keys = np.concatenate([part_keys for part_keys, _ in parts])
    order = np.argsort(keys, kind="stable")
    return _sum_runs(keys[order], np.concatenate([counts for _, counts in parts])[order])


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def ngram_model(ids: np.ndarray, n: int, num_symbols: int) -> NgramModel:
    """Model of every length-n window of every row of ids (N, seq_len): seq_len − n + 1 per row."""
    ids = _check_ids(ids, n, num_symbols)
    keys, counts = _count_keys(ids, n, num_symbols)
    probs = counts / counts.sum()
    return NgramModel(n, num_symbols, _frozen(keys), _frozen(counts), _frozen(probs))


def _shared_indices(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices into sorted unique `a` and `b` of the keys both hold."""
    pos = np.minimum(np.searchsorted(a, b), a.size - 1)  # (len(b),)
    hit = a[pos] == b
    return pos[hit], np.flatnonzero(hit)


def _mass_outside(probs: np.ndarray, shared: np.ndarray) -> float:
    outside = np.ones(probs.size, dtype=bool)
    outside[shared] = False
    return float(probs[outside].sum())


def js_divergence(p: NgramModel, q: NgramModel) -> float:
    """Jensen-Shannon divergence in bits: ½ KL(P‖M) + ½ KL(Q‖M), M = ½(P + Q); in [0, 1]."""
    if p.n != q.n or p.num_symbols != q.num_symbols:
        raise TextganError(
            f"cannot compare a {p.n}-gram model over {p.num_symbols} symbols "
            f"with a {q.n}-gram model over {q.num_symbols} symbols"
        )
    in_p, in_q = _shared_indices(p.keys, q.keys)
    p_shared, q_shared = p.probs[in_p], q.probs[in_q]
    m_shared = 0.5 * (p_shared + q_shared)
    shared = np.sum(p_shared * np.log2(p_shared / m_shared))
    shared += np.sum(q_shared * np.log2(q_shared / m_shared))
    # A key in one model only has m = prob / 2 there, so it adds prob · log2(2) = prob.
    alone = _mass_outside(p.probs, in_p) + _mass_outside(q.probs, in_q)
    return float(np.clip(0.5 * (shared + alone), 0.0, 1.0))


def char_models(
    ids: np.ndarray, num_symbols: int, orders: Sequence[int] = CHAR_ORDERS
) -> CharModels:
    """The reference models of `ids` (N, seq_len), one per order; build once, score many times."""
    return CharModels(num_symbols, tuple(ngram_model(ids, n, num_symbols) for n in orders))


def js_scores(sample_ids: np.ndarray, reference: CharModels) -> dict[str, float]:
    """{"js1": ..., "js4": ...}: each order of the samples (N, seq_len) against the reference."""
    return {
        f"js{model.n}": js_divergence(
            model, ngram_model(sample_ids, model.n, reference.num_symbols)
        )
        for model in reference.models
    }


def validation_floor(
    train_ids: np.ndarray, heldout_ids: np.ndarray, num_symbols: int, n_lines: int = 640
) -> dict[str, float]:
    """js1..js4 of the first `n_lines` held-out rows against the models of all training rows.

    This is the score real text gets, the best a generator of `n_lines` samples can hope for.
    """
    heldout_ids = np.asarray(heldout_ids)
    if heldout_ids.shape[0] < n_lines:
        raise TextganError(
            f"the validation floor needs {n_lines} held-out lines, got {len(heldout_ids)}"
        )
    return js_scores(heldout_ids[:n_lines], char_models(train_ids, num_symbols))


@dataclass(frozen=True, eq=False)
class WordIndex:
    """Word n-grams of some full text lines; `ngrams[n - 1]` holds n words joined by one space."""

    ngrams: tuple[frozenset[str], ...]

    @property
    def words(self) -> frozenset[str]:
        return self.ngrams[0]


def _word_ngrams(words: Sequence[str], n: int) -> list[str]:
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def _ngram_sets(lines: Iterable[str], orders: range) -> list[frozenset[str]]:
    sets = [set() for _ in orders]
    for line in lines:
        words = line.split()
        for n, grams in zip(orders, sets, strict=True):
            grams.update(_word_ngrams(words, n))
    return [frozenset(grams) for grams in sets]


def word_index(lines: Iterable[str], max_order: int = WORD_ORDERS) -> WordIndex:
    """Index of the words (split on whitespace, case kept) and word n-grams 2..max_order of lines.

    The lines are full lines, every word complete. max_order=1 is the cheap one on millions of
    lines (one join and one split of the distinct lines); higher orders loop over the lines.
    """
    if not 1 <= max_order <= WORD_ORDERS:
        raise TextganError(f"word n-gram order must be in [1, {WORD_ORDERS}], got {max_order}")
    distinct = set(lines)  # a repeated line adds no word and no n-gram
    words = frozenset(" ".join(distinct).split())
    return WordIndex((words, *_ngram_sets(distinct, range(2, max_order + 1))))


def line_prefixes(lines: Iterable[str], seq_len: int) -> frozenset[str]:
    """The first `seq_len` characters of every line: what a sample that copies a line looks like."""
    return frozenset(line.rstrip("\n")[:seq_len] for line in lines)


def complete_words(sample: str, seq_len: int) -> list[str]:
    """The words of a decoded sample, without its last word when the sample fills seq_len.

    A sample of seq_len characters may be cut inside its last word, unless it ends on a space.
    """
    words = sample.split()
    if len(sample) >= seq_len and not sample[-1].isspace():
        return words[:-1]
    return words


def word_validity(
    samples: Sequence[str],
    train_words: AbstractSet[str] | np.ndarray,
    seq_len: int,
    min_len: int = MIN_WORD_LEN,
) -> float:
    """Share of the samples' complete words of ≥ min_len characters found in the training words."""
    words = [w for s in samples for w in complete_words(s, seq_len) if len(w) >= min_len]
    if not words:
        return 0.0
    if isinstance(train_words, np.ndarray):
        return float(np.mean(np.isin(np.asarray(words), train_words)))
    return sum(word in train_words for word in words) / len(words)


def percent_in_test(samples: Sequence[str], heldout: WordIndex, n: int, seq_len: int) -> float:
    """Share of the samples' word n-grams (complete words, with multiplicity) seen in held-out text.

    Press et al. 2017, %-IN-TEST-n; 0.0 when the samples hold no word n-gram.
    """
    if not 1 <= n <= len(heldout.ngrams):
        raise TextganError(f"the held-out index has word n-grams 1..{len(heldout.ngrams)}, not {n}")
    grams = [g for s in samples for g in _word_ngrams(complete_words(s, seq_len), n)]
    if not grams:
        return 0.0
    known = heldout.ngrams[n - 1]
    return sum(gram in known for gram in grams) / len(grams)


def _check_samples(samples: Sequence[str]) -> None:
    if len(samples) == 0:
        raise TextganError("no samples to score")


def distinct_share(samples: Sequence[str]) -> float:
    """Distinct samples / samples: 1.0 when no two samples are the same."""
    _check_samples(samples)
    return len(set(samples)) / len(samples)


def copy_share(samples: Sequence[str], train_prefixes: AbstractSet[str]) -> float:
    """Share of samples equal to the first seq_len characters of a training line (memorisation)."""
    _check_samples(samples)
    return sum(sample in train_prefixes for sample in samples) / len(samples)


@dataclass(frozen=True, eq=False)
class EvalReference:
    """Everything the samples are scored against, built once before training or evaluation."""

    chars: CharModels
    train_words: frozenset[str]
    train_prefixes: frozenset[str]
    heldout: WordIndex
    seq_len: int


def eval_reference(
    train_ids: np.ndarray,
    train_lines: Iterable[str],
    heldout_lines: Iterable[str],
    num_symbols: int,
) -> EvalReference:
    """Reference for `evaluate`: char models of train_ids (N, seq_len), words, prefixes, held-out.

    train_lines are the full training text lines; heldout_lines the full held-out lines.
    """
    train_lines = list(train_lines)
    seq_len = np.asarray(train_ids).shape[1]
    return EvalReference(
        chars=char_models(train_ids, num_symbols),
        train_words=word_index(train_lines, max_order=1).words,
        train_prefixes=line_prefixes(train_lines, seq_len),
        heldout=word_index(heldout_lines),
        seq_len=seq_len,
    )


def evaluate(
    sample_ids: np.ndarray, samples: Sequence[str], reference: EvalReference
) -> dict[str, float]:
    """All measures of one set of samples: ids (N, seq_len) and the same samples decoded."""
    if len(samples) != len(sample_ids):
        raise TextganError(f"{len(sample_ids)} sample id rows but {len(samples)} decoded samples")
    scores = js_scores(sample_ids, reference.chars)
    scores["word_validity"] = word_validity(samples, reference.train_words, reference.seq_len)
    for n in range(1, len(reference.heldout.ngrams) + 1):
        scores[f"in_test{n}"] = percent_in_test(samples, reference.heldout, n, reference.seq_len)
    scores["distinct"] = distinct_share(samples)
    scores["copied"] = copy_share(samples, reference.train_prefixes)
    return scores

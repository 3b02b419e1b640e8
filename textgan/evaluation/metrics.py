"""Character n-gram models and Jensen-Shannon scores of generated text (word measures: words.py).

They work on integer id arrays of shape (N, seq_len) in which padding and unknown are ordinary
symbols, as in the paper's loader. An n-gram of ids is one int64 key (a base-`num_symbols`
number), so a model is a sorted key array with counts, and two models merge by `searchsorted`.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from textgan.errors import TextganError
from textgan.rundir import records

MAX_ORDER = 4
MAX_SYMBOLS = 65536
CHAR_ORDERS = records.NGRAM_ORDERS
_INT64_MAX = int(np.iinfo(np.int64).max)
# Windows keyed at once: few enough to stay in cache (3x faster on 1M lines than all at once).
_CHUNK_WINDOWS = 1 << 21
# A chunk is counted with bincount, not a sort, when the key space is at most this many keys wide.
_BINCOUNT_SPACE_PER_KEY = 4
# Counted chunks are merged once they hold this many keys, or as many as the merged counts.
_MERGE_KEYS = 1 << 22


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


def _merge(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One sorted (keys, counts) of several, the counts of equal keys summed."""
    keys = np.concatenate([part_keys for part_keys, _ in parts])
    order = np.argsort(keys, kind="stable")
    return _sum_runs(keys[order], np.concatenate([counts for _, counts in parts])[order])


def _count_keys(ids: np.ndarray, n: int, num_symbols: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique n-gram keys of all windows and their counts, a chunk of rows at a time.

    A chunk's counts are merged into the total once the unmerged ones are as many as the total's
    keys, so memory stays within a few times the model's size, however many rows there are."""
    chunks = _row_chunks(ids, n)
    key_space = num_symbols**n
    if key_space <= _BINCOUNT_SPACE_PER_KEY * chunks[0].shape[0] * (ids.shape[1] - n + 1):
        counts = np.zeros(key_space, dtype=np.int64)  # (key_space,)
        for chunk in chunks:
            counts += np.bincount(_window_keys(chunk, n, num_symbols), minlength=key_space)
        present = np.flatnonzero(counts)
        return present.astype(np.int64), counts[present]
    total = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for chunk in chunks:
        keys = np.sort(_window_keys(chunk, n, num_symbols))
        parts.append(_sum_runs(keys, np.ones(keys.size, dtype=np.int64)))
        if sum(part[0].size for part in parts) >= max(total[0].size, _MERGE_KEYS):
            total, parts = _merge([total, *parts]), []
    return _merge([total, *parts])


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def ngram_model(ids: np.ndarray, n: int, num_symbols: int) -> NgramModel:
    """Model of every length-n window of every row of ids (N, seq_len): seq_len − n + 1 per row."""
    ids = _check_ids(ids, n, num_symbols)
    return model_from_counts(n, num_symbols, *_count_keys(ids, n, num_symbols))


def model_from_counts(n: int, num_symbols: int, keys: np.ndarray, counts: np.ndarray) -> NgramModel:
    """The model whose sorted unique keys (K,) occur counts (K,) times."""
    keys, counts = np.asarray(keys, dtype=np.int64), np.asarray(counts, dtype=np.int64)
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
        records.js(model.n): js_divergence(
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

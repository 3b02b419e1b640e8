"""A smoothed character n-gram language model: interpolated Kneser–Ney, in numpy.

Lines. The model reads the id arrays the evaluator uses, (N, seq_len) rows cut or padded to
seq_len with PAD_ID. A row is read as the text it decodes to: its characters in order, the pad
ids left out (a generated row may hold a pad between characters; a real row only at its end),
followed by one end-of-line symbol when it holds fewer than seq_len characters (a full row was
cut, so its line goes on). The end symbol is PAD_ID itself, so the model learns where lines end
and no padding after the end is scored. Every token (character or end) is predicted from the
ORDER − 1 before it, the context of a line's first characters filled with a start symbol BOS
(id num_symbols) that is never predicted. Samples and real text go through the same reading.

Formula: the interpolated Kneser–Ney of Chen & Goodman 1998 ("An Empirical Study of Smoothing
Techniques for Language Modeling", Harvard TR-10-98), after Kneser & Ney 1995, with one discount
per order. For a token w after the context h of k − 1 symbols,

    P_k(w | h) = ( max(a_k(h w) − D_k, 0) + D_k · N1+(h •) · P_{k−1}(w | h') ) / Σ_v a_k(h v)

where h' is h without its first symbol, N1+(h •) the number of distinct v with a_k(h v) > 0, and
P_k(w | h) = P_{k−1}(w | h') when no a_k(h v) is positive (an unseen context). The recursion ends
in the uniform P_0(w) = 1 / num_symbols, so every symbol has a positive probability. The counts
a_k are the raw counts c(h w) at the highest order k = ORDER and the continuation counts
N1+(• h w) = |{v : c(v h w) > 0}| below it, except that an n-gram starting with BOS keeps its raw
count (nothing but BOS can precede it), as in KenLM (Heafield et al. 2013, "Scalable Modified
Kneser-Ney Language Model Estimation"). The discount of order k (Ney, Essen & Kneser 1994):
D_k = n1 / (n1 + 2 n2), n_r the number of k-grams with a_k = r, kept within [MIN_DISCOUNT, 1] so
that a set of counts without singletons (one line repeated) still leaves mass for unseen text.

Cross-entropy: H = −(1/T) Σ_t log2 P(w_t | h_t) over the T tokens of the rows scored, in bits per
character (the end symbol counts as a character).

Order 5. On the shared One Billion Word excerpt (20,305 training lines, 32 characters, 108
symbols) the first 640 held-out lines cost 2.98, 2.49, 2.23, 2.17 and 2.16 bits per character
under the training text's model of order 3, 4, 5, 6 and 7 (quality), and the next 6,400 held-out
lines cost 3.20, 2.98, 2.93, 2.94 and 2.95 under a model of those 640 lines (coverage): order 5
is the best for a model of 640 samples and within 0.07 bits of the best for the training text's,
and its keys, 5 symbols out of up to 2049 (a --max-vocab of 2048, plus BOS), fit an int64, which
order 6's would not.

An n-gram of ids is one int64 key, a base-(num_symbols + 1) number, so each order's counts are a
sorted key array, and a lookup is a searchsorted: no Python loop runs per n-gram.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from textgan.data.vocab import PAD_ID
from textgan.errors import TextganError

ORDER = 5
MIN_DISCOUNT = 0.1
END_ID = PAD_ID  # the end-of-line symbol
_INT64_MAX = int(np.iinfo(np.int64).max)
_CHUNK_TOKENS = 1 << 21  # tokens keyed at a time (the scratch memory)
_MERGE_KEYS = 1 << 22  # counted chunks are merged once they hold this many keys, or the total's


@dataclass(frozen=True, eq=False)
class Level:
    """The statistics of one order k: its k-grams and their contexts (the first k − 1 symbols)."""

    keys: np.ndarray  # (K,) int64, sorted unique k-gram keys
    counts: np.ndarray  # (K,) int64: a_k, raw at the highest order, continuation counts below
    contexts: np.ndarray  # (H,) int64, sorted unique contexts: keys // base (0 at order 1)
    context_totals: np.ndarray  # (H,) int64: Σ_v a_k(h v)
    context_types: np.ndarray  # (H,) int64: N1+(h •)
    discount: float


@dataclass(frozen=True, eq=False)
class KneserNey:
    """An interpolated Kneser–Ney model; levels[k − 1] holds order k."""

    num_symbols: int
    levels: tuple[Level, ...]

    @property
    def order(self) -> int:
        return len(self.levels)

    @property
    def base(self) -> int:
        return self.num_symbols + 1


def check_fits(num_symbols: int, order: int) -> None:
    """Refuse an order or a vocabulary whose n-gram keys would not fit an int64."""
    if order < 1:
        raise TextganError(f"the n-gram order must be at least 1, got {order}")
    if num_symbols < 2:
        raise TextganError(f"a language model needs at least 2 symbols, got {num_symbols}")
    if (num_symbols + 1) ** order - 1 > _INT64_MAX:
        raise TextganError(f"{order}-gram keys over {num_symbols} symbols do not fit in int64: "
                           "use a smaller --max-vocab")  # fmt: skip


def _check_ids(ids: np.ndarray, num_symbols: int) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise TextganError(f"ids must be a 2-d integer array, got {ids.dtype} of shape {ids.shape}")
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise TextganError(f"ids of shape {ids.shape} hold no line to model")
    if ids.min() < 0 or ids.max() >= num_symbols:
        raise TextganError(f"ids must lie in [0, {num_symbols}), found {ids.min()}..{ids.max()}")
    return ids


def _lines(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows as int64 with their characters first (pads moved to the end, the characters' order
    kept), and each row's number of characters: (N, L), (N,)."""
    pad = ids == PAD_ID  # (N, L)
    lengths = ids.shape[1] - pad.sum(axis=1)  # (N,)
    rows = ids.astype(np.int64)  # (N, L)
    holes = np.flatnonzero((pad[:, :-1] & ~pad[:, 1:]).any(axis=1))  # a pad before a character
    if holes.size:
        order = np.argsort(pad[holes], axis=1, kind="stable")  # (h, L)
        rows[holes] = np.take_along_axis(rows[holes], order, axis=1)
    return rows, lengths


def _token_keys(ids: np.ndarray, num_symbols: int, order: int) -> np.ndarray:
    """The key of every token's n-gram (its context and itself), row by row: (T,) int64."""
    rows, lengths = _lines(ids)
    n, length = rows.shape
    padded = np.full((n, order - 1 + length), num_symbols, dtype=np.int64)  # BOS, then the row
    padded[:, order - 1 :] = rows
    keys = padded[:, :length].copy()  # (N, L)
    for offset in range(1, order):
        keys *= num_symbols + 1
        keys += padded[:, offset : offset + length]
    scored = np.arange(length) <= lengths[:, None]  # (N, L): the characters and the end
    return keys[scored]


def token_keys(ids: np.ndarray, num_symbols: int, order: int = ORDER) -> Iterator[np.ndarray]:
    """_token_keys of ids (N, seq_len), a chunk of rows at a time (bounded scratch memory)."""
    ids = _check_ids(ids, num_symbols)
    check_fits(num_symbols, order)
    rows = max(1, _CHUNK_TOKENS // ids.shape[1])
    for start in range(0, ids.shape[0], rows):
        yield _token_keys(np.asarray(ids[start : start + rows]), num_symbols, order)


def _sum_runs(ordered: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique keys of sorted `ordered` (M,) and the sums of `counts` (M,) over each run."""
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # (K,)
    return ordered[starts], np.add.reduceat(counts, starts)


def _merge(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One sorted (keys, counts) of several sorted ones, the counts of equal keys summed (a
    stable sort finds the sorted runs)."""
    keys = np.concatenate([part_keys for part_keys, _ in parts])
    order = np.argsort(keys, kind="stable")
    return _sum_runs(keys[order], np.concatenate([counts for _, counts in parts])[order])


def _raw_counts(chunks: Iterator[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys and their counts over all chunks, merged as they come so that memory
    stays within a few times the result's size."""
    empty = np.zeros(0, dtype=np.int64)
    total, parts = (empty, empty), []
    for keys in chunks:
        keys = np.sort(keys)
        parts.append(_sum_runs(keys, np.ones(keys.size, dtype=np.int64)))
        if sum(part[0].size for part in parts) >= max(total[0].size, _MERGE_KEYS):
            total, parts = _merge([total, *parts]), []
    return _merge([total, *parts])


def _lower(
    keys: np.ndarray, counts: np.ndarray, k: int, num_symbols: int
) -> tuple[np.ndarray, np.ndarray]:
    """Order k's keys and counts a_k from order k + 1's: each distinct (k+1)-gram adds 1 to its
    k-gram suffix, or its own count where that suffix starts with BOS."""
    base = num_symbols + 1
    suffixes = keys % base**k  # (K,)
    starts_with_bos = suffixes // base ** (k - 1) == num_symbols
    weights = np.where(starts_with_bos, counts, 1)
    order = np.argsort(suffixes)
    return _sum_runs(suffixes[order], weights[order])


def discount(counts: np.ndarray) -> float:
    """D = n1 / (n1 + 2 n2), within [MIN_DISCOUNT, 1]."""
    n1, n2 = int(np.count_nonzero(counts == 1)), int(np.count_nonzero(counts == 2))
    value = n1 / (n1 + 2 * n2) if n1 + n2 else 0.0
    return float(min(max(value, MIN_DISCOUNT), 1.0))


def level(keys: np.ndarray, counts: np.ndarray, num_symbols: int) -> Level:
    """A Level from an order's sorted unique keys (K,) and their counts a_k (K,)."""
    contexts = keys // (num_symbols + 1)  # (K,), sorted since the keys are
    starts = np.flatnonzero(np.r_[True, contexts[1:] != contexts[:-1]])  # (H,)
    types = np.diff(np.r_[starts, keys.size])
    totals = np.add.reduceat(counts, starts)
    return Level(keys, counts, contexts[starts], totals, types, discount(counts))


def kneser_ney(ids: np.ndarray, num_symbols: int, order: int = ORDER) -> KneserNey:
    """The model of every line of ids (N, seq_len), whose values lie in [0, num_symbols)."""
    keys, counts = _raw_counts(token_keys(ids, num_symbols, order))
    found = [(keys, counts)]
    for k in range(order - 1, 0, -1):
        found.append(_lower(*found[-1], k, num_symbols))
    levels = tuple(level(keys, counts, num_symbols) for keys, counts in reversed(found))
    return KneserNey(num_symbols, levels)


def _lookup(keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each query (M,) is in sorted keys, and whether it is there at all."""
    position = np.minimum(np.searchsorted(keys, queries), keys.size - 1)  # (M,)
    return position, keys[position] == queries


def key_probabilities(model: KneserNey, keys: np.ndarray) -> np.ndarray:
    """P(w | h) of each n-gram key (M,) of the model's order (context h, then w): (M,)."""
    p = np.full(keys.shape, 1.0 / model.num_symbols)  # (M,): P_0
    for k, stats in enumerate(model.levels, start=1):
        grams = keys % model.base**k if k < model.order else keys
        at, seen = _lookup(stats.keys, grams)
        count = np.where(seen, stats.counts[at], 0)
        at, known = _lookup(stats.contexts, grams // model.base)
        total = np.where(known, stats.context_totals[at], 0)
        types = np.where(known, stats.context_types[at], 0)
        mass = np.maximum(count - stats.discount, 0) + stats.discount * types * p
        p = np.where(total > 0, mass / np.maximum(total, 1), p)
    return p


def token_probabilities(model: KneserNey, ids: np.ndarray) -> np.ndarray:
    """P of every token of the rows of ids (N, seq_len), row by row: (T,)."""
    chunks = token_keys(ids, model.num_symbols, model.order)
    return np.concatenate([key_probabilities(model, keys) for keys in chunks])


def cross_entropy(model: KneserNey, ids: np.ndarray) -> float:
    """Bits per character of the rows of ids (N, seq_len) under the model."""
    return float(-np.mean(np.log2(token_probabilities(model, ids))))


def next_symbol_probabilities(model: KneserNey, context: Sequence[int]) -> np.ndarray:
    """P(w | context) for every symbol w: (num_symbols,). The context is the order − 1 symbols
    before w, BOS (num_symbols) where they reach before the line's start."""
    if len(context) != model.order - 1:
        raise TextganError(f"an order-{model.order} context has {model.order - 1} symbols, "
                           f"got {len(context)}")  # fmt: skip
    key = 0
    for symbol in context:
        key = key * model.base + int(symbol)
    keys = key * model.base + np.arange(model.num_symbols, dtype=np.int64)  # (V,)
    return key_probabilities(model, keys)

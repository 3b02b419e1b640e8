"""Stable 64-bit hashes of strings, of the words of lines and of word n-grams, computed in numpy;
and sorted sets of them, built a block at a time.

Reference texts of millions of lines are indexed as sorted uint64 arrays of these hashes (8 bytes
an entry) instead of Python strings. Two different strings share a hash with a chance of about
2^-64, so a set of n hashes takes about n / 2^64 of the strings looked up for ones it holds. The
hashes depend only on the text (no per-process salt), so such sets can be saved and reloaded.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

BASE = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2^64
SPAN = 1 << 16  # code points hashed at a time, which bounds the scratch memory
MERGE_MIN = 1 << 20  # pending hashes are merged into a set at the latest once this many
_SPACE = np.array([chr(c).isspace() for c in range(0x3001)])  # str.split()'s separators


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: every input bit affects every output bit."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """np.unique by a sort (numpy 2's np.unique of integers is many times slower)."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered


@functools.lru_cache(maxsize=2)
def _powers(count: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE^j and BASE^-j modulo 2^64 for j < count: (count,) uint64 each."""
    steps = np.full(count, BASE, dtype=np.uint64)
    inverse = np.full(count, pow(BASE, -1, 1 << 64), dtype=np.uint64)
    steps[0] = inverse[0] = 1
    return np.cumprod(steps), np.cumprod(inverse)  # products wrap modulo 2^64


def segment_hashes(codepoints: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The hash of each codepoints[start:end], segments in order and not overlapping: the
    polynomial Σ (c_j + 1)·BASE^j over its code points, from prefix sums, mixed with its length."""
    out = np.empty(len(starts), dtype=np.uint64)  # (S,)
    first = 0
    while first < len(starts):  # a run of segments within SPAN code points (or one longer one)
        base = starts[first]
        last = max(first + 1, int(np.searchsorted(ends, base + SPAN, side="right")))
        text = codepoints[base : ends[last - 1]].astype(np.uint64) + np.uint64(1)
        powers, inverse = _powers(max(SPAN, len(text)) + 1)
        prefix = np.concatenate([[np.uint64(0)], np.cumsum(text * powers[: len(text)])])
        begin, end = starts[first:last] - base, ends[first:last] - base
        lengths = (end - begin).astype(np.uint64)
        out[first:last] = _mix(((prefix[end] - prefix[begin]) * inverse[begin]) ^ _mix(lengths))
        first = last
    return out


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # (len(text),)


def string_hashes(strings: Sequence[str]) -> np.ndarray:
    """The hash of each string: (len(strings),) uint64."""
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))  # (S,)
    ends = np.cumsum(lengths)
    return segment_hashes(_codepoints("".join(strings)), ends - lengths, ends)


def _words(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Code points of text and the starts and ends of its words as str.split() finds them."""
    codepoints = _codepoints(text)
    space = codepoints <= ord(" ")  # then the few exceptions: ASCII controls, non-ASCII spaces
    other = (codepoints < ord(" ")) | ((codepoints >= 0x85) & (codepoints < len(_SPACE)))
    rare = np.flatnonzero(other)
    space[rare] = _SPACE[codepoints[rare]]
    edges = np.diff(np.r_[True, space, True].astype(np.int8))  # (len + 1,): -1 starts, 1 ends
    return codepoints, np.flatnonzero(edges == -1), np.flatnonzero(edges == 1)


def word_hashes(lines: Sequence[str], min_len: int = 1, max_len: int | None = None) -> np.ndarray:
    """Hashes of all the words of the lines (split on whitespace) of min_len..max_len characters:
    (W,) uint64."""
    codepoints, starts, ends = _words("\n".join(lines))
    lengths = ends - starts
    keep = (lengths >= min_len) & (lengths <= (max_len or len(codepoints)))
    return segment_hashes(codepoints, starts[keep], ends[keep])


def line_words(lines: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the words of the lines, in order: (W,) uint64, and the index of the line each
    word is in: (W,) int64."""
    codepoints, starts, ends = _words("\n".join(lines))  # a line break ends a line's last word
    line_starts = np.r_[0, np.flatnonzero(codepoints == ord("\n")) + 1]  # (len(lines),)
    line_of_word = np.searchsorted(line_starts, starts, side="right") - 1
    return segment_hashes(codepoints, starts, ends), line_of_word


def ngram_hashes(word_hashes: np.ndarray, line_of_word: np.ndarray, n: int) -> np.ndarray:
    """Hashes of every n consecutive words of one line (order matters): (G,) uint64."""
    count = len(word_hashes) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    whole = line_of_word[:count] == line_of_word[n - 1 :]  # (count,): inside one line
    h = word_hashes[:count].copy()
    for offset in range(1, n):
        h = _mix(h * np.uint64(BASE) + word_hashes[offset : offset + count])
    return h[whole]


def contains(hash_set: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Which of the hashes (Q,) are in the sorted hash set: (Q,) bool."""
    if hash_set.size == 0:
        return np.zeros(len(hashes), dtype=bool)
    at = np.minimum(np.searchsorted(hash_set, hashes), hash_set.size - 1)
    return hash_set[at] == hashes


class HashSetBuilder:
    """A sorted set of hashes added a block at a time: blocks are merged once they hold as many
    entries as the set, so memory stays within a few times the set's size."""

    def __init__(self) -> None:
        self.merged = np.zeros(0, dtype=np.uint64)
        self.pending: list[np.ndarray] = []
        self.pending_size = 0

    def add(self, hashes: np.ndarray) -> None:
        block = unique_sorted(hashes)
        self.pending.append(block)
        self.pending_size += block.size
        if self.pending_size >= max(self.merged.size, MERGE_MIN):
            self.merged = self.result()

    def result(self) -> np.ndarray:
        """The set so far: sorted unique uint64."""
        if self.pending:
            self.merged = unique_sorted(np.concatenate([self.merged, *self.pending]))
            self.pending, self.pending_size = [], 0
        return self.merged

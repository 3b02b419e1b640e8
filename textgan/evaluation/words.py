"""Word-level measures of generated text, against indexes of reference text kept as sorted arrays
of 64-bit hashes (hashing.py), so that millions of lines cost a few bytes a distinct entry.

Samples are decoded strings with the trailing padding removed: a sample that still has `seq_len`
characters filled every position, so its last word may be cut and is not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import numpy as np

from textgan.errors import TextganError
from textgan.evaluation.hashing import (
    HashSetBuilder,
    contains,
    line_words,
    ngram_hashes,
    string_hashes,
    word_hashes,
)
from textgan.rundir import records

WORD_ORDERS = max(records.NGRAM_ORDERS)
MIN_WORD_LEN = 3
LINES_PER_BLOCK = 1 << 16  # reference lines hashed at a time


@dataclass(frozen=True, eq=False)
class WordIndex:
    """Word n-grams of some full text lines: `ngrams[n - 1]` holds the hashes of every n
    consecutive words of a line (sorted, unique)."""

    ngrams: tuple[np.ndarray, ...]

    @property
    def words(self) -> np.ndarray:
        return self.ngrams[0]


def blocks_of(lines: Iterable[str]) -> Iterator[list[str]]:
    """The lines in lists of LINES_PER_BLOCK (the last one shorter)."""
    lines = iter(lines)
    while block := list(islice(lines, LINES_PER_BLOCK)):
        yield block


def word_index(lines: Iterable[str], max_order: int = WORD_ORDERS) -> WordIndex:
    """Index of the words (split on whitespace, case kept) and word n-grams 2..max_order of
    lines, which are full lines, every word complete; read a block at a time."""
    if not 1 <= max_order <= WORD_ORDERS:
        raise TextganError(f"word n-gram order must be in [1, {WORD_ORDERS}], got {max_order}")
    builders = [HashSetBuilder() for _ in range(max_order)]
    for block in blocks_of(lines):
        hashes, line_of_word = line_words(block)
        for n, builder in enumerate(builders, start=1):
            builder.add(ngram_hashes(hashes, line_of_word, n))
    return WordIndex(tuple(builder.result() for builder in builders))


def line_prefixes(lines: Iterable[str], seq_len: int) -> np.ndarray:
    """Hashes of the first `seq_len` characters of every line (sorted, unique): what a sample
    that copies a line looks like."""
    builder = HashSetBuilder()
    for block in blocks_of(lines):
        builder.add(string_hashes([line.rstrip("\n")[:seq_len] for line in block]))
    return builder.result()


def words_and_prefixes(lines: Iterable[str], seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The words of lines that word_validity asks about (MIN_WORD_LEN to seq_len characters) and
    line_prefixes(lines, seq_len), in one pass over lines."""
    words, prefixes = HashSetBuilder(), HashSetBuilder()
    for block in blocks_of(lines):
        words.add(word_hashes(block, MIN_WORD_LEN, seq_len))
        prefixes.add(string_hashes([line.rstrip("\n")[:seq_len] for line in block]))
    return words.result(), prefixes.result()


def complete_words(sample: str, seq_len: int) -> list[str]:
    """The words of a decoded sample, without its last word when the sample fills seq_len.

    A sample of seq_len characters may be cut inside its last word, unless it ends on a space.
    """
    words = sample.split()
    if len(sample) >= seq_len and not sample[-1].isspace():
        return words[:-1]
    return words


def word_validity(
    samples: Sequence[str], train_words: np.ndarray, seq_len: int, min_len: int = MIN_WORD_LEN
) -> float:
    """Share of the samples' complete words of ≥ min_len characters found in the training words
    (a WordIndex's `words`)."""
    words = [w for s in samples for w in complete_words(s, seq_len) if len(w) >= min_len]
    if not words:
        return 0.0
    return float(np.mean(contains(train_words, string_hashes(words))))


def percent_in_test(samples: Sequence[str], heldout: WordIndex, n: int, seq_len: int) -> float:
    """Share of the samples' word n-grams (complete words, with multiplicity) seen in held-out text.

    Press et al. 2017, %-IN-TEST-n; 0.0 when the samples hold no word n-gram.
    """
    if not 1 <= n <= len(heldout.ngrams):
        raise TextganError(f"the held-out index has word n-grams 1..{len(heldout.ngrams)}, not {n}")
    complete = [" ".join(complete_words(s, seq_len)) for s in samples]
    grams = ngram_hashes(*line_words(complete), n)
    if not grams.size:
        return 0.0
    return float(np.mean(contains(heldout.ngrams[n - 1], grams)))


def _check_samples(samples: Sequence[str]) -> None:
    if len(samples) == 0:
        raise TextganError("no samples to score")


def distinct_share(samples: Sequence[str]) -> float:
    """Distinct samples / samples: 1.0 when no two samples are the same."""
    _check_samples(samples)
    return len(set(samples)) / len(samples)


def copy_share(samples: Sequence[str], train_prefixes: np.ndarray) -> float:
    """Share of samples equal to the first seq_len characters of a training line (memorisation);
    train_prefixes as line_prefixes gives them."""
    _check_samples(samples)
    return float(np.mean(contains(train_prefixes, string_hashes(samples))))

import random

import numpy as np
import pytest

from textgan.evaluation import hashing
from textgan.evaluation.hashing import (
    HashSetBuilder,
    contains,
    line_words,
    ngram_hashes,
    string_hashes,
    word_hashes,
)

ODD_SPACES = "\t\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"


def random_strings(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = "abcxyz é😀\u0301"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(count)]


def test_equal_strings_hash_equal_and_distinct_ones_apart() -> None:
    strings = random_strings(50_000, seed=0)
    hashes = string_hashes(strings)
    assert hashes.dtype == np.uint64 and hashes.shape == (50_000,)
    assert len(np.unique(hashes)) == len(set(strings))  # no collision among the distinct ones
    first = {}
    for text, value in zip(strings, hashes.tolist(), strict=True):
        assert first.setdefault(text, value) == value


@pytest.mark.parametrize("span", [hashing.SPAN, 5, 1])  # many segments at a time, few, one
def test_a_string_hashes_alike_wherever_it_stands(monkeypatch, span: int) -> None:
    monkeypatch.setattr(hashing, "SPAN", span)
    strings = [*random_strings(200, seed=1), "long " * 40]
    alone = np.concatenate([string_hashes([s]) for s in strings])
    assert np.array_equal(alone, string_hashes(strings))
    assert np.array_equal(string_hashes(strings[::-1]), alone[::-1])


def test_hashes_are_fixed_values() -> None:
    """The same in every process (no salt), as saved references need: if this fails, bump
    reference.REFERENCE_FORMAT."""
    assert string_hashes(["", "a", "the cat", "naïve 😀"]).tolist() == [
        0,
        1114274585189131075,
        7420610641342594853,
        66358535478881310,
    ]


@pytest.mark.parametrize("text", ["", "  ", "one", " two  words ", ODD_SPACES.join("abcd")])
def test_words_are_what_split_gives(text: str) -> None:
    lines = [text, "x" + ODD_SPACES + "y", "", "last line"]
    hashes, line_of_word = line_words(lines)
    words = [(i, w) for i, line in enumerate(lines) for w in line.split()]
    assert line_of_word.tolist() == [i for i, _ in words]
    assert np.array_equal(hashes, string_hashes([w for _, w in words]))
    assert np.array_equal(word_hashes(lines), hashes)


def test_word_ngrams_stay_inside_a_line_and_keep_the_order() -> None:
    lines = ["a b c", "c b a", "d", "a b c d"]
    hashes, line_of_word = line_words(lines)
    grams = {n: ngram_hashes(hashes, line_of_word, n) for n in (1, 2, 3, 4)}
    assert len(grams[1]) == 11 and np.array_equal(grams[1], hashes)
    assert len(grams[2]) == 2 + 2 + 0 + 3  # none across a line break
    assert len(set(grams[2].tolist())) == 5  # a b, b c, c b, b a, c d: order matters
    assert len(grams[3]) == 1 + 1 + 2 and len(set(grams[3].tolist())) == 3  # a b c twice
    assert len(grams[4]) == 1
    assert ngram_hashes(hashes[:1], line_of_word[:1], 2).size == 0


def test_a_set_built_in_blocks_is_the_unique_sorted_hashes(monkeypatch) -> None:
    monkeypatch.setattr(hashing, "MERGE_MIN", 10)  # merge often
    rng = np.random.default_rng(0)
    blocks = [rng.integers(0, 500, size=rng.integers(0, 40)).astype(np.uint64) for _ in range(60)]
    builder = HashSetBuilder()
    for block in blocks:
        builder.add(block)
        assert builder.pending_size < 2 * max(len(builder.merged), 10) + 40
    assert np.array_equal(builder.result(), np.unique(np.concatenate(blocks)))
    queries = np.array([0, 1, 499, 10**6], dtype=np.uint64)
    expected = [any(q in block for block in blocks) for q in queries.tolist()]
    assert contains(builder.result(), queries).tolist() == expected and not expected[-1]
    assert not contains(np.zeros(0, dtype=np.uint64), np.ones(3, dtype=np.uint64)).any()

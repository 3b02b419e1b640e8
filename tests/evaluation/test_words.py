"""Word measures by hand; their indexes are sorted hash arrays, built a block at a time."""

import sys
import tracemalloc

import numpy as np
import pytest
from conftest import WORDS, make_lines

from textgan.errors import TextganError
from textgan.evaluation import words as words_module
from textgan.evaluation.hashing import contains, line_words, ngram_hashes, string_hashes
from textgan.evaluation.words import (
    complete_words,
    copy_share,
    distinct_share,
    line_prefixes,
    percent_in_test,
    word_index,
    word_validity,
    words_and_prefixes,
)


def hash_set(strings: list[str]) -> np.ndarray:
    return np.unique(string_hashes(strings))


def gram(text: str) -> np.ndarray:
    """The hash of the word n-gram `text` (its words joined by one space)."""
    return ngram_hashes(*line_words([text]), len(text.split()))


def test_complete_words_drops_a_cut_last_word() -> None:
    assert complete_words("the cat sa", 10) == ["the", "cat"]  # fills all 10: "sa" may be cut
    assert complete_words("the cat s", 10) == ["the", "cat", "s"]  # ended before the cut
    assert complete_words("the  cats ", 10) == ["the", "cats"]  # a space at the cut: "cats" whole
    assert complete_words("abcdefghij", 10) == []


def test_word_validity_by_hand() -> None:
    train_words = word_index(["the cat sat on the mat", "a dog ran"], max_order=1).words
    expected = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran"]
    assert np.array_equal(train_words, hash_set(expected))
    samples = [
        "the cat xyz mat",  # 15 chars, not cut: the, cat, xyz, mat: 3 of 4 valid
        "dog ran far",  # 11 chars, not cut: dog, ran, far: 2 of 3 valid
        "qqq the sat dogg",  # 16 chars = seq_len: "dogg" dropped; qqq, the, sat: 2 of 3
    ]
    assert word_validity(samples, train_words, seq_len=16) == pytest.approx(7 / 10)
    assert word_validity(["a b on", "zz"], train_words, seq_len=16) == 0.0  # no word of ≥ 3


def test_percent_in_test_by_hand() -> None:
    heldout = word_index(["the cat sat on the mat", "a dog ran home"])
    assert contains(heldout.ngrams[3], gram("cat sat on the")).all()
    assert not contains(heldout.ngrams[1], gram("mat a")).any()  # n-grams do not cross lines
    assert not contains(heldout.ngrams[1], gram("cat the")).any()  # order matters
    samples = ["the cat ran on the mat", "a dog sat home xxxxxxxxx"]  # second fills 24: cut
    # unigrams: the cat ran on the mat | a dog sat home -> all 10 seen
    assert percent_in_test(samples, heldout, 1, seq_len=24) == 1.0
    # bigrams: the cat, cat ran, ran on, on the, the mat | a dog, dog sat, sat home -> 4 of 8
    assert percent_in_test(samples, heldout, 2, seq_len=24) == pytest.approx(4 / 8)
    # trigrams: the cat ran, cat ran on, ran on the, on the mat | a dog sat, dog sat home -> 1/6
    assert percent_in_test(samples, heldout, 3, seq_len=24) == pytest.approx(1 / 6)
    # 4-grams: 3 + 1, none seen
    assert percent_in_test(samples, heldout, 4, seq_len=24) == 0.0
    assert percent_in_test(["a b"], heldout, 4, seq_len=16) == 0.0  # no 4-gram at all
    with pytest.raises(TextganError):
        percent_in_test(samples, word_index(["a b"], max_order=2), 3, seq_len=16)


def test_distinct_and_copy_share_by_hand() -> None:
    samples = ["abc", "abc", "the quick brown", "xyz"]
    assert distinct_share(samples) == 3 / 4
    prefixes = line_prefixes(["the quick brown fox\n", "abc", "xy z"], seq_len=15)
    assert np.array_equal(prefixes, hash_set(["the quick brown", "abc", "xy z"]))
    assert copy_share(samples, prefixes) == 3 / 4  # abc twice and the cut line
    with pytest.raises(TextganError, match="no samples"):
        distinct_share([])


def test_indexes_read_in_blocks_equal_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = make_lines(500) + ["x y z"] * 50
    whole = word_index(lines), words_and_prefixes(lines, 16)
    monkeypatch.setattr(words_module, "LINES_PER_BLOCK", 7)
    blocked = word_index(iter(lines)), words_and_prefixes(iter(lines), 16)
    for a, b in zip(whole[0].ngrams, blocked[0].ngrams, strict=True):
        assert np.array_equal(a, b)
    assert all(np.array_equal(a, b) for a, b in zip(whole[1], blocked[1], strict=True))
    long_enough = [w for line in lines for w in line.split() if 3 <= len(w) <= 16]
    assert np.array_equal(whole[1][0], hash_set(long_enough))
    assert np.array_equal(whole[1][1], line_prefixes(lines, 16))


def test_indexing_a_stream_of_lines_never_holds_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """300,000 lines are indexed a block at a time into hashes of their distinct words and
    prefixes: no Python string per line is kept, and the peak is far below the lines'."""
    monkeypatch.setattr(words_module, "LINES_PER_BLOCK", 1 << 12)
    lines = make_lines(300_000)
    as_strings = sum(sys.getsizeof(line) for line in lines) + 8 * len(lines)  # about 25 MB
    tracemalloc.start()
    try:
        train_words, prefixes = words_and_prefixes(iter(lines), 8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert train_words.dtype == prefixes.dtype == np.uint64
    assert len(train_words) == len({word for word in WORDS if len(word) >= 3})
    assert len(prefixes) == len({line[:8] for line in lines})
    assert peak < as_strings / 5

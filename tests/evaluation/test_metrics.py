"""Tests for textgan.evaluation.metrics: the JS maths against a plain dict port."""

import math
import os
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from textgan.errors import TextganError
from textgan.evaluation import metrics
from textgan.evaluation.metrics import (
    char_models,
    js_divergence,
    js_scores,
    ngram_model,
    validation_floor,
)

SEQ_LEN = 32


def slow_js(p_strings: list[str], q_strings: list[str], n: int) -> float:
    """The JS definition over dict counts of string n-grams, as language_helpers.js_with."""
    p = Counter(s[i : i + n] for s in p_strings for i in range(len(s) - n + 1))
    q = Counter(s[i : i + n] for s in q_strings for i in range(len(s) - n + 1))
    p_total, q_total = sum(p.values()), sum(q.values())
    js = 0.0
    for gram in set(p) | set(q):
        pg, qg = p[gram] / p_total, q[gram] / q_total
        mg = (pg + qg) / 2
        js += 0.5 * (pg * math.log2(pg / mg) if pg else 0.0)
        js += 0.5 * (qg * math.log2(qg / mg) if qg else 0.0)
    return js


def as_strings(ids: np.ndarray) -> list[str]:
    # One distinct code point per id (ids < 0xD700 stay clear of the surrogates).
    return ["".join(chr(0x100 + int(i)) for i in row) for row in ids]


def random_ids(rng: np.random.Generator, rows: int, num_symbols: int, skew: float) -> np.ndarray:
    weights = rng.random(num_symbols) ** skew
    return rng.choice(num_symbols, size=(rows, 12), p=weights / weights.sum())  # (rows, 12)


@pytest.mark.parametrize("num_symbols", [3, 7, 300])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_js_matches_slow_definition(n: int, num_symbols: int) -> None:
    rng = np.random.default_rng(1000 * n + num_symbols)
    p_ids = random_ids(rng, 60, num_symbols, skew=3.0)
    q_ids = random_ids(rng, 45, num_symbols, skew=1.0)
    fast = js_divergence(ngram_model(p_ids, n, num_symbols), ngram_model(q_ids, n, num_symbols))
    assert abs(fast - slow_js(as_strings(p_ids), as_strings(q_ids), n)) <= 1e-9


def test_model_counts_every_window() -> None:
    ids = np.array([[0, 1, 0, 1], [1, 1, 1, 1]])
    model = ngram_model(ids, 2, 2)
    assert model.keys.tolist() == [1, 2, 3]  # "01", "10", "11" in base 2
    assert model.counts.tolist() == [2, 1, 3]
    assert np.allclose(model.probs, [2 / 6, 1 / 6, 3 / 6])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.uint64])
def test_dtypes_agree(dtype: type) -> None:
    ids = np.random.default_rng(0).integers(0, 200, size=(30, 10))
    reference = ngram_model(ids.astype(np.int64), 3, 200)
    model = ngram_model(ids.astype(dtype), 3, 200)
    assert np.array_equal(model.keys, reference.keys)
    assert np.array_equal(model.counts, reference.counts)


@pytest.mark.parametrize("merge_keys", [1 << 22, 1])  # merged at the end, after every chunk
@pytest.mark.parametrize("chunk_windows", [1 << 21, 13])  # one chunk, many uneven chunks
@pytest.mark.parametrize("space_per_key", [0, 10**9])  # always sort, always bincount
def test_counting_paths_agree(
    space_per_key: int, chunk_windows: int, merge_keys: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "_BINCOUNT_SPACE_PER_KEY", space_per_key)
    monkeypatch.setattr(metrics, "_CHUNK_WINDOWS", chunk_windows)
    monkeypatch.setattr(metrics, "_MERGE_KEYS", merge_keys)
    rng = np.random.default_rng(7)
    p_ids, q_ids = rng.integers(0, 20, size=(2, 50, 8))
    p_ids[:, :4] = q_ids[:, :4] = 3  # some shared 4-grams
    for n in range(1, 5):
        p, q = ngram_model(p_ids, n, 20), ngram_model(q_ids, n, 20)
        slow = slow_js(as_strings(p_ids), as_strings(q_ids), n)
        assert abs(js_divergence(p, q) - slow) <= 1e-9
        assert p.counts.sum() == 50 * (8 - n + 1)


def test_counting_many_chunks_keeps_memory_near_the_models_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each chunk's counts are merged into the total as they come, not all kept to the end: 1,080
    chunks of about 1,000 distinct 4-grams each would be 17 MB; the model has 2,700."""
    monkeypatch.setattr(metrics, "_BINCOUNT_SPACE_PER_KEY", 0)
    monkeypatch.setattr(metrics, "_CHUNK_WINDOWS", 1000)
    monkeypatch.setattr(metrics, "_MERGE_KEYS", 5000)
    pattern = np.random.default_rng(3).integers(0, 50, size=(300, 12))
    ids = np.tile(pattern, (400, 1))  # (120000, 12)
    tracemalloc.start()
    try:
        model = ngram_model(ids, 4, 50)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(model.keys, ngram_model(pattern, 4, 50).keys)
    assert model.counts.sum() == 120_000 * 9
    assert peak < 2 * 2**20


def test_identical_sets_score_zero() -> None:
    ids = np.random.default_rng(1).integers(0, 9, size=(40, 16))
    shuffled = ids[::-1].copy()
    for n in range(1, 5):
        assert js_divergence(ngram_model(ids, n, 9), ngram_model(shuffled, n, 9)) == 0.0


def test_disjoint_symbols_score_one() -> None:
    rng = np.random.default_rng(2)
    low, high = rng.integers(0, 5, size=(30, 16)), rng.integers(5, 10, size=(17, 16))
    for n in range(1, 5):
        assert abs(js_divergence(ngram_model(low, n, 10), ngram_model(high, n, 10)) - 1.0) <= 1e-12


def test_symmetric_and_bounded() -> None:
    rng = np.random.default_rng(3)
    for trial in range(20):
        num_symbols = int(rng.integers(2, 40))
        p = ngram_model(rng.integers(0, num_symbols, size=(25, 9)), 1 + trial % 4, num_symbols)
        q = ngram_model(rng.integers(0, num_symbols, size=(11, 9)), 1 + trial % 4, num_symbols)
        forward, backward = js_divergence(p, q), js_divergence(q, p)
        assert abs(forward - backward) <= 1e-12
        assert 0.0 <= forward <= 1.0


def test_key_overflow_raises() -> None:
    ids = np.zeros((2, 8), dtype=np.int64)
    ngram_model(ids, 4, 55108)  # 55108**4 - 1 < 2**63 - 1: fits
    with pytest.raises(TextganError, match="int64"):
        ngram_model(ids, 4, 55109)
    with pytest.raises(TextganError, match="int64"):
        ngram_model(ids, 4, 65536)


@pytest.mark.parametrize(
    ("ids", "n", "num_symbols"),
    [
        (np.array([[0, 5]]), 1, 5),  # id out of range
        (np.array([[-1, 0]]), 1, 5),
        (np.array([[0, 1]]), 3, 5),  # rows shorter than n
        (np.zeros((0, 8), dtype=np.int64), 1, 5),  # no rows
        (np.array([0, 1, 2]), 1, 5),  # not 2-d
        (np.array([[0.0, 1.0]]), 1, 5),  # not integers
        (np.array([[0, 1]]), 5, 5),  # order above 4
        (np.array([[0, 1]]), 1, 70000),  # too many symbols
    ],
)
def test_bad_ids_raise(ids: np.ndarray, n: int, num_symbols: int) -> None:
    with pytest.raises(TextganError):
        ngram_model(ids, n, num_symbols)


def test_js_scores_and_mismatch() -> None:
    ids = np.random.default_rng(4).integers(0, 6, size=(20, 10))
    scores = js_scores(ids, char_models(ids, 6))
    assert scores == {"js1": 0.0, "js2": 0.0, "js3": 0.0, "js4": 0.0}
    with pytest.raises(TextganError, match="cannot compare"):
        js_divergence(ngram_model(ids, 1, 6), ngram_model(ids, 2, 6))
    with pytest.raises(TextganError, match="held-out lines"):
        validation_floor(ids, ids[:5], 6, n_lines=10)


def read_cut_lines(path: Path, seq_len: int) -> list[str]:
    with path.open(encoding="utf-8") as file:
        return [line.rstrip("\n")[:seq_len] for line in file if line.rstrip("\n")]


def encode(lines: list[str], chars: list[str], seq_len: int) -> np.ndarray:
    """ids (N, seq_len): chars in sorted order, then unk, then pad past the line end."""
    unk, pad = len(chars), len(chars) + 1
    table = np.full(0x110000, unk, dtype=np.uint8)  # code point -> id
    table[[ord(c) for c in chars]] = np.arange(len(chars))
    table[0] = pad  # NUL fills the positions past the end below; no corpus line holds it
    text = "".join(line.ljust(seq_len, "\0") for line in lines)
    code_points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return table[code_points].reshape(len(lines), seq_len)  # (N, seq_len)


def test_validation_floor_on_real_text() -> None:
    corpora = os.environ.get("TEXTGAN_CORPORA")
    if not corpora:
        pytest.skip("TEXTGAN_CORPORA is not set")
    train_path = Path(corpora) / "billion_words_train.txt"
    heldout_path = Path(corpora) / "billion_words_heldout.txt"
    assert os.access(train_path, os.R_OK), f"cannot read {train_path}"
    assert os.access(heldout_path, os.R_OK), f"cannot read {heldout_path}"
    train = read_cut_lines(train_path, SEQ_LEN)
    heldout = read_cut_lines(heldout_path, SEQ_LEN)
    chars = sorted({c for line in train for c in line})
    assert "\0" not in chars
    num_symbols = len(chars) + 2
    floor = validation_floor(
        encode(train, chars, SEQ_LEN), encode(heldout, chars, SEQ_LEN), num_symbols
    )
    expected = {"js1": 0.0009, "js2": 0.0161, "js3": 0.0914, "js4": 0.2502}
    assert floor == pytest.approx(expected, abs=1e-3)

"""The Kneser–Ney model against a direct count-based computation (dicts and loops, written from
the formula in ngram_lm's docstring), its distributions, and its reading of padded rows."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from textgan.errors import TextganError
from textgan.evaluation import ngram_lm
from textgan.evaluation.ngram_lm import (
    MIN_DISCOUNT,
    cross_entropy,
    kneser_ney,
    next_symbol_probabilities,
    token_probabilities,
)


def tokens_of(row: list[int]) -> list[int]:
    """A row's characters (pads dropped) and, unless it was full, the end symbol 0."""
    chars = [x for x in row if x != 0]
    return chars + ([0] if len(chars) < len(row) else [])


class DirectKneserNey:
    """Interpolated Kneser–Ney from counts kept in dicts of tuples; slow and plain."""

    def __init__(self, rows: list[list[int]], symbols: int, order: int) -> None:
        self.symbols, self.order, self.bos = symbols, order, symbols
        raw: Counter = Counter()
        for row in rows:
            padded = [self.bos] * (order - 1) + tokens_of(row)
            for t in range(order - 1, len(padded)):
                raw[tuple(padded[t - order + 1 : t + 1])] += 1
        self.counts = {order: dict(raw)}
        for k in range(order - 1, 0, -1):
            adjusted: Counter = Counter()
            for gram, count in self.counts[k + 1].items():
                suffix = gram[1:]
                adjusted[suffix] += count if suffix[0] == self.bos else 1
            self.counts[k] = dict(adjusted)
        self.discounts = {}
        for k, counts in self.counts.items():
            n1 = sum(1 for c in counts.values() if c == 1)
            n2 = sum(1 for c in counts.values() if c == 2)
            d = n1 / (n1 + 2 * n2) if n1 + n2 else 0.0
            self.discounts[k] = min(max(d, MIN_DISCOUNT), 1.0)

    def prob(self, context: tuple[int, ...], w: int) -> float:
        """P(w | context), context the order − 1 symbols before w."""
        p = 1.0 / self.symbols
        for k in range(1, self.order + 1):
            h = context[len(context) - (k - 1) :] if k > 1 else ()
            counts, d = self.counts[k], self.discounts[k]
            followers = [c for gram, c in counts.items() if gram[:-1] == h]
            if not followers:
                continue
            mass = max(counts.get((*h, w), 0) - d, 0) + d * len(followers) * p
            p = mass / sum(followers)
        return p

    def token_probs(self, rows: list[list[int]]) -> list[float]:
        out = []
        for row in rows:
            padded = [self.bos] * (self.order - 1) + tokens_of(row)
            for t in range(self.order - 1, len(padded)):
                out.append(self.prob(tuple(padded[t - self.order + 1 : t]), padded[t]))
        return out


def random_rows(n: int, length: int, symbols: int, seed: int) -> np.ndarray:
    """Rows of symbols 1..symbols−1 padded with 0 after a random length; some with pads inside
    (as a generator may write them), some full."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(1, symbols, size=(n, length))
    ends = rng.integers(0, length + 1, size=n)
    rows[np.arange(length) >= ends[:, None]] = 0
    holes = rng.random((n, length)) < 0.1
    rows[holes & (rng.random(n) < 0.3)[:, None]] = 0
    return rows.astype(np.uint8)


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_probabilities_match_the_direct_computation(order: int, seed: int) -> None:
    symbols = 5
    train = random_rows(40, 7, symbols, seed)
    scored = random_rows(15, 7, symbols, seed + 100)
    model = kneser_ney(train, symbols, order)
    direct = DirectKneserNey(train.tolist(), symbols, order)
    assert [lv.discount for lv in model.levels] == pytest.approx(
        [direct.discounts[k] for k in range(1, order + 1)]
    )
    expected = direct.token_probs(scored.tolist())
    assert token_probabilities(model, scored) == pytest.approx(expected, rel=1e-12)
    bits = -sum(math.log2(p) for p in expected) / len(expected)
    assert cross_entropy(model, scored) == pytest.approx(bits, rel=1e-12)


def test_hand_counts_of_a_tiny_text() -> None:
    """Two lines "ab" and "a" (a=1, b=2, end=0; 3 symbols), order 2, worked out by hand."""
    model = kneser_ney(np.array([[1, 2, 0], [1, 0, 0]]), 3, order=2)
    # bigrams: (BOS a) 2, (a b) 1, (b end) 1, (a end) 1: n1 = 3, n2 = 1, D2 = 3/5.
    # unigram continuation counts: a 1 (after BOS), b 1 (after a), end 2 (after a, b): D1 = 2/4,
    # so P1(w) = (a1(w) - 1/2 + 1/2 · 3 · 1/3) / 4 = a1(w) / 4.
    assert [lv.discount for lv in model.levels] == pytest.approx([0.5, 0.6])
    unigram = [2 / 4, 1 / 4, 1 / 4]  # end, a, b
    assert next_symbol_probabilities(model, [0]) == pytest.approx(unigram)  # unseen context
    after_bos = [0.6 * unigram[0] / 2, (2 - 0.6 + 0.6 * unigram[1]) / 2, 0.6 * unigram[2] / 2]
    assert next_symbol_probabilities(model, [3]) == pytest.approx(after_bos)
    assert after_bos == pytest.approx([0.15, 0.775, 0.075])
    after_a = [(1 - 0.6 + 2 * 0.6 * unigram[0]) / 2, 2 * 0.6 * unigram[1] / 2,
               (1 - 0.6 + 2 * 0.6 * unigram[2]) / 2]  # fmt: skip
    assert next_symbol_probabilities(model, [1]) == pytest.approx(after_a)
    assert after_a == pytest.approx([0.5, 0.15, 0.35])


@pytest.mark.parametrize("order", [2, 4, 5])
def test_every_context_is_a_distribution_over_the_vocabulary(order: int) -> None:
    symbols = 6
    train = random_rows(60, 8, symbols, seed=3)
    model = kneser_ney(train, symbols, order)
    bos = symbols
    row = tokens_of(train[0].tolist())
    seen = [bos] * (order - 1) + row
    contexts = [
        [bos] * (order - 1),  # a line's start
        seen[1:order],  # seen in the training rows
        [5] * (order - 1),  # perhaps never seen
        [bos] * (order - 2) + [0] if order > 1 else [],  # after an end: unseen
    ]
    for context in contexts:
        probs = next_symbol_probabilities(model, context)
        assert probs.shape == (symbols,) and (probs > 0).all()
        assert probs.sum() == pytest.approx(1.0, abs=1e-12)


def test_counts_without_singletons_still_leave_mass_for_unseen_text() -> None:
    """640 copies of one line: D falls back to MIN_DISCOUNT, so other text has a finite cost."""
    model = kneser_ney(np.tile(np.array([[1, 2, 3, 0, 0]]), (640, 1)), 6, order=5)
    assert model.levels[-1].discount == MIN_DISCOUNT
    other = np.array([[4, 5, 4, 5, 0]])
    assert math.isfinite(cross_entropy(model, other))
    assert cross_entropy(model, other) > 5 * cross_entropy(model, np.array([[1, 2, 3, 0, 0]]))


def test_a_row_reads_as_its_decoded_text() -> None:
    """Pads inside a row are dropped as decoding drops them; a full row has no end symbol."""
    model = kneser_ney(random_rows(30, 6, 5, seed=7), 5, order=3)
    gappy, compact = np.array([[1, 0, 2, 0, 3, 0]]), np.array([[1, 2, 3, 0, 0, 0]])
    assert (token_probabilities(model, gappy) == token_probabilities(model, compact)).all()
    assert token_probabilities(model, compact).size == 4  # a, b, c, end
    assert token_probabilities(model, np.array([[1, 2, 3, 4, 1, 2]])).size == 6
    assert token_probabilities(model, np.zeros((2, 6), dtype=np.uint8)).size == 2  # ends only


@pytest.mark.parametrize(
    ("ids", "symbols", "order", "fragment"),
    [
        (np.array([[1, 2, 7]]), 5, 3, "[0, 5)"),
        (np.zeros((0, 4), dtype=int), 5, 3, "no line"),
        (np.array([1.0, 2.0]), 5, 3, "2-d integer"),
        (np.array([[1, 2]]), 3000, 6, "int64"),
        (np.array([[1, 2]]), 5, 0, "at least 1"),
    ],
)
def test_bad_input_is_refused(ids, symbols: int, order: int, fragment: str) -> None:
    with pytest.raises(TextganError, match=fragment.replace("[", r"\[").replace(")", r"\)")):
        kneser_ney(ids, symbols, order)


@pytest.mark.parametrize(("chunk_tokens", "merge_keys"), [(7, 1), (50, 30), (1 << 21, 1 << 22)])
def test_counting_a_chunk_at_a_time_gives_the_same_model(
    chunk_tokens: int, merge_keys: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = random_rows(300, 9, 7, seed=5)
    whole = kneser_ney(rows, 7, order=4)
    monkeypatch.setattr(ngram_lm, "_CHUNK_TOKENS", chunk_tokens)
    monkeypatch.setattr(ngram_lm, "_MERGE_KEYS", merge_keys)
    chunked = kneser_ney(rows, 7, order=4)
    for a, b in zip(whole.levels, chunked.levels, strict=True):
        for name in ("keys", "counts", "contexts", "context_totals", "context_types"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert a.discount == b.discount

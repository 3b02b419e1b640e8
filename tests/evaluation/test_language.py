"""Quality and coverage: what they measure on real text, the held-out split, and the model of the
training text cached beside the corpus's encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from textgan.data.corpus import encode_corpus
from textgan.data.vocab import PAD_ID
from textgan.evaluation import language as language_module
from textgan.evaluation.language import (
    COVERAGE_LINES,
    FLOOR_LINES,
    LANGUAGE_DIR,
    corpus_language,
    language_floor,
    language_reference,
    language_scores,
    split_heldout,
)


def shuffled_characters(rows: np.ndarray, seed: int) -> np.ndarray:
    """Each row's characters in a random order, its padding left where it was."""
    rng = np.random.default_rng(seed)
    out = rows.copy()
    for row in out:
        length = int(np.count_nonzero(row != PAD_ID))
        row[:length] = rng.permutation(row[:length])
    return out


def test_real_text_beats_shuffled_characters_and_one_line_repeated(corpora_dir: Path) -> None:
    encoded = encode_corpus(corpora_dir / "billion_words_train.txt", 32, 2048,
                            heldout=corpora_dir / "billion_words_heldout.txt",
                            use_cache=False)  # fmt: skip
    reference = language_reference(encoded.ids, encoded.heldout_ids, len(encoded.vocab))
    real = reference.floor_rows
    assert len(real) == FLOOR_LINES and len(reference.coverage_rows) == COVERAGE_LINES
    floor = language_floor(reference)
    shuffled = language_scores(shuffled_characters(real, seed=0), reference)
    one_line = language_scores(np.repeat(real[:1], FLOOR_LINES, axis=0), reference)
    assert floor["quality"] < shuffled["quality"] - 1.0  # bits per character
    assert floor["coverage"] < one_line["coverage"] - 1.0
    assert floor["quality"] < floor["coverage"]  # 20,305 training lines model text better
    # one real line repeated is real text: its quality stays near the floor's
    assert abs(one_line["quality"] - floor["quality"]) < 1.5


def test_the_held_out_split_is_disjoint() -> None:
    rows = np.arange(5000 * 2).reshape(5000, 2)
    floor, coverage = split_heldout(rows)
    assert len(floor) == FLOOR_LINES and len(coverage) == min(COVERAGE_LINES, 5000 - FLOOR_LINES)
    assert np.array_equal(coverage[0], rows[FLOOR_LINES])
    small_floor, small_coverage = split_heldout(rows[:30])
    assert len(small_floor) == 15 and np.array_equal(small_coverage, rows[15:30])
    single_floor, single_coverage = split_heldout(rows[:1])
    assert len(single_floor) == 0 and len(single_coverage) == 1


def test_a_single_held_out_line_has_no_language_floor() -> None:
    ids = np.array([[1, 2, 0], [2, 1, 0]])
    reference = language_reference(ids, ids[:1], num_symbols=3)
    assert language_floor(reference) == {}
    assert set(language_scores(ids, reference)) == {"quality", "coverage"}


def same(a, b) -> bool:
    pairs = [(x, y) for la, lb in zip(a.model.levels, b.model.levels, strict=True)
             for x, y in ((la.keys, lb.keys), (la.counts, lb.counts), (la.contexts, lb.contexts),
                          (la.context_totals, lb.context_totals))]  # fmt: skip
    discounts = [lv.discount for lv in a.model.levels] == [lv.discount for lv in b.model.levels]
    pairs += [(a.floor_rows, b.floor_rows), (a.coverage_rows, b.coverage_rows)]
    return discounts and all(np.array_equal(x, y) for x, y in pairs)


def test_the_model_is_saved_with_the_cache_and_loaded_next_time(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded = encode_corpus(tiny_corpus, 16, 2048, holdout=30)
    built = corpus_language(encoded)
    assert (encoded.cache_dir / LANGUAGE_DIR / "manifest.json").is_file()
    assert same(built, language_reference(encoded.ids, encoded.heldout_ids, len(encoded.vocab)))
    monkeypatch.setattr(language_module, "kneser_ney", lambda *a: pytest.fail("rebuilt"))
    loaded = corpus_language(encode_corpus(tiny_corpus, 16, 2048, holdout=30))
    assert same(loaded, built)
    assert isinstance(loaded.model.levels[-1].keys, np.memmap)


@pytest.mark.parametrize("change", ["damaged", "new encoding", "other format"])
def test_a_model_not_made_from_this_encoding_is_rebuilt(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    encoded = encode_corpus(tiny_corpus, 16, 2048, holdout=30)
    built = corpus_language(encoded)
    directory = encoded.cache_dir / LANGUAGE_DIR
    if change == "damaged":
        path = directory / "keys5.npy"
        path.write_bytes(path.read_bytes()[:-8])
    elif change == "new encoding":  # another manifest: the encoding was rewritten since
        manifest = encoded.cache_dir / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"format"', '"format" ', 1))
    else:
        monkeypatch.setattr(language_module, "LANGUAGE_FORMAT", 99)
    rebuilds = []
    real = language_module.kneser_ney

    def counted(*args):
        rebuilds.append(1)
        return real(*args)

    monkeypatch.setattr(language_module, "kneser_ney", counted)
    assert same(corpus_language(encode_corpus(tiny_corpus, 16, 2048, holdout=30)), built)
    assert rebuilds == [1]


def test_without_a_cache_the_model_is_built_each_time(tiny_corpus: Path) -> None:
    encoded = encode_corpus(tiny_corpus, 16, 2048, holdout=30, use_cache=False)
    assert same(corpus_language(encoded), corpus_language(encoded))
    assert not tiny_corpus.with_name("tiny.txt.textgan").exists()

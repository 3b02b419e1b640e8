from pathlib import Path

import numpy as np
import pytest

from textgan.data.corpus import Split, encode_corpus
from textgan.evaluation import reference as reference_module
from textgan.evaluation.reference import (
    REFERENCE_DIR,
    corpus_reference,
    eval_reference,
    evaluate,
)


def test_evaluate_collects_every_measure() -> None:
    lines = ["ab ba", "ba ab"]
    ids = np.array([[0, 1, 2, 1, 0], [1, 0, 2, 0, 1]])  # a=0 b=1 space=2, seq_len 5
    reference = eval_reference(ids, lines, lines, num_symbols=3)
    scores = evaluate(ids, lines, reference)
    assert scores["js4"] == 0.0 and scores["copied"] == 1.0 and scores["distinct"] == 1.0
    assert scores["in_test1"] == 1.0  # the cut "ba" and "ab" dropped; "ab" and "ba" kept
    assert scores["word_validity"] == 0.0  # no word of 3 characters
    assert set(scores) == {"js1", "js2", "js3", "js4", "word_validity", "distinct", "copied"} | {
        f"in_test{n}" for n in range(1, 5)
    }


def same(a, b) -> bool:
    arrays = [(x.keys, y.keys) for x, y in zip(a.chars.models, b.chars.models, strict=True)]
    arrays += [(x.counts, y.counts) for x, y in zip(a.chars.models, b.chars.models, strict=True)]
    arrays += [(a.train_words, b.train_words), (a.train_prefixes, b.train_prefixes)]
    arrays += list(zip(a.heldout.ngrams, b.heldout.ngrams, strict=True))
    return a.seq_len == b.seq_len and all(np.array_equal(x, y) for x, y in arrays)


def test_a_corpus_reference_holds_arrays_read_from_a_stream(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Python string per training line: hashes of distinct words and prefixes in arrays, the
    training text read as a stream (never as one list)."""
    encoded = encode_corpus(tiny_corpus, 16, 2048, holdout=30)
    expected = eval_reference(encoded.ids, encoded.split.train, encoded.split.heldout,
                              len(encoded.vocab))  # fmt: skip
    monkeypatch.setattr(Split, "train", property(lambda self: pytest.fail("read whole")))
    reference = corpus_reference(encoded)
    assert same(reference, expected)
    for array in (reference.train_words, reference.train_prefixes, *reference.heldout.ngrams):
        assert isinstance(array, np.ndarray) and array.dtype == np.uint64
    assert len(reference.train_prefixes) == len({line[:16] for line in encoded.split.train_lines()})


def test_the_reference_is_saved_with_the_cache_and_loaded_next_time(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded = encode_corpus(tiny_corpus, 16, 2048, holdout=30)
    built = corpus_reference(encoded)
    assert (encoded.cache_dir / REFERENCE_DIR / "manifest.json").is_file()
    monkeypatch.setattr(reference_module, "eval_reference", lambda *a: pytest.fail("rebuilt"))
    loaded = corpus_reference(encode_corpus(tiny_corpus, 16, 2048, holdout=30))
    assert same(loaded, built)
    assert isinstance(loaded.train_prefixes, np.memmap)


@pytest.mark.parametrize("change", ["damaged", "new encoding", "other format"])
def test_a_reference_not_made_from_this_encoding_is_rebuilt(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    encoded = encode_corpus(tiny_corpus, 16, 2048, holdout=30)
    built = corpus_reference(encoded)
    directory = encoded.cache_dir / REFERENCE_DIR
    if change == "damaged":
        path = directory / "train_words.npy"
        path.write_bytes(path.read_bytes()[:-8])
    elif change == "new encoding":  # another manifest: the encoding was rewritten since
        manifest = encoded.cache_dir / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"format"', '"format" ', 1))
    else:
        monkeypatch.setattr(reference_module, "REFERENCE_FORMAT", 99)
    rebuilds = []
    real = reference_module.eval_reference

    def counted(*args):
        rebuilds.append(1)
        return real(*args)

    monkeypatch.setattr(reference_module, "eval_reference", counted)
    assert same(corpus_reference(encode_corpus(tiny_corpus, 16, 2048, holdout=30)), built)
    assert rebuilds == [1]


def test_without_a_cache_the_reference_is_built_each_time(tiny_corpus: Path) -> None:
    encoded = encode_corpus(tiny_corpus, 16, 2048, holdout=30, use_cache=False)
    assert encoded.cache_dir is None
    assert same(corpus_reference(encoded), corpus_reference(encoded))
    assert not tiny_corpus.with_name("tiny.txt.textgan").exists()

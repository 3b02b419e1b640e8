"""What generated samples are scored against: character models of the training ids, hashed words
and line prefixes of the training text, hashed word n-grams of the held-out text. Built once from
a corpus (its text read as a stream), and saved beside its cached encoding for the next run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textgan.data import cache
from textgan.data.corpus import EncodedCorpus
from textgan.errors import TextganError
from textgan.evaluation.metrics import (
    CHAR_ORDERS,
    CharModels,
    char_models,
    js_scores,
    model_from_counts,
)
from textgan.evaluation.words import (
    WORD_ORDERS,
    WordIndex,
    copy_share,
    distinct_share,
    percent_in_test,
    word_index,
    word_validity,
    words_and_prefixes,
)
from textgan.rundir import records

REFERENCE_DIR = "reference"  # inside the encoding's cache directory
REFERENCE_FORMAT = 1  # what a saved reference holds and how it hashes: bump when either changes
SAVED_ARRAYS = (
    "train_words",
    "train_prefixes",
    *(f"chars{n}_{part}" for n in CHAR_ORDERS for part in ("keys", "counts")),
    *(f"heldout{n}" for n in range(1, WORD_ORDERS + 1)),
)


@dataclass(frozen=True, eq=False)
class EvalReference:
    """Everything the samples are scored against, built once before training or evaluation."""

    chars: CharModels
    train_words: np.ndarray  # (W,) sorted uint64 hashes of the training text's words
    train_prefixes: np.ndarray  # (P,) sorted uint64 hashes of its lines' first seq_len chars
    heldout: WordIndex
    seq_len: int


def eval_reference(
    train_ids: np.ndarray,
    train_lines: Iterable[str],
    heldout_lines: Iterable[str],
    num_symbols: int,
) -> EvalReference:
    """Reference for `evaluate`: char models of train_ids (N, seq_len), words, prefixes, held-out.

    train_lines are the full training text lines, read once a block at a time (a stream will
    do); heldout_lines the full held-out lines.
    """
    seq_len = train_ids.shape[1]
    train_words, train_prefixes = words_and_prefixes(train_lines, seq_len)
    return EvalReference(char_models(train_ids, num_symbols), train_words, train_prefixes,
                         word_index(heldout_lines), seq_len)  # fmt: skip


def evaluate(
    sample_ids: np.ndarray, samples: Sequence[str], reference: EvalReference
) -> dict[str, float]:
    """All measures of one set of samples: ids (N, seq_len) and the same samples decoded."""
    if len(samples) != len(sample_ids):
        raise TextganError(f"{len(sample_ids)} sample id rows but {len(samples)} decoded samples")
    scores = js_scores(sample_ids, reference.chars)
    scores[records.WORD_VALIDITY] = word_validity(samples, reference.train_words,
                                                  reference.seq_len)  # fmt: skip
    for n in range(1, len(reference.heldout.ngrams) + 1):
        scores[records.in_test(n)] = percent_in_test(samples, reference.heldout, n,
                                                     reference.seq_len)  # fmt: skip
    scores[records.DISTINCT] = distinct_share(samples)
    scores[records.COPIED] = copy_share(samples, reference.train_prefixes)
    return scores


def corpus_reference(encoded: EncodedCorpus) -> EvalReference:
    """The reference of an encoded corpus: from its cache when saved there for this very
    encoding, else built (one pass over the training text) and saved there."""
    directory = encoded.cache_dir / REFERENCE_DIR if encoded.cache_dir is not None else None
    built_from = cache.manifest_digest(encoded.cache_dir) if encoded.cache_dir else None
    if directory is not None and built_from is not None:
        found = load_reference(directory, built_from)
        if found is not None:
            return found
    reference = eval_reference(encoded.ids, encoded.split.train_lines(), encoded.split.heldout,
                               len(encoded.vocab))  # fmt: skip
    if directory is not None and built_from is not None:
        save_reference(directory, reference, built_from)
    return reference


def save_reference(directory: Path, reference: EvalReference, built_from: str) -> bool:
    arrays = {"train_words": reference.train_words, "train_prefixes": reference.train_prefixes}
    for model in reference.chars.models:
        arrays |= {f"chars{model.n}_keys": model.keys, f"chars{model.n}_counts": model.counts}
    for n, grams in enumerate(reference.heldout.ngrams, start=1):
        arrays[f"heldout{n}"] = grams
    meta = {"reference_format": REFERENCE_FORMAT, "built_from": built_from,
            "num_symbols": reference.chars.num_symbols, "seq_len": reference.seq_len}  # fmt: skip
    return cache.save_arrays(directory, arrays, {}, meta)


def load_reference(directory: Path, built_from: str) -> EvalReference | None:
    """The reference saved in directory from the encoding `built_from`; None if there is none."""
    found = cache.load_arrays(directory, SAVED_ARRAYS)
    if found is None:
        return None
    arrays, _, manifest = found
    if (
        manifest.get("reference_format") != REFERENCE_FORMAT
        or manifest.get("built_from") != built_from
    ):
        return None
    symbols = int(manifest["num_symbols"])
    models = tuple(model_from_counts(n, symbols, arrays[f"chars{n}_keys"],
                                     arrays[f"chars{n}_counts"]) for n in CHAR_ORDERS)  # fmt: skip
    heldout = WordIndex(tuple(arrays[f"heldout{n}"] for n in range(1, WORD_ORDERS + 1)))
    return EvalReference(CharModels(symbols, models), arrays["train_words"],
                         arrays["train_prefixes"], heldout, int(manifest["seq_len"]))  # fmt: skip

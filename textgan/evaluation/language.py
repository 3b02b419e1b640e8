"""Quality and coverage of samples, each a cross-entropy in bits per character under a
Kneser–Ney character model (ngram_lm.py), the two directions of Caccia et al. 2020 ("Language
GANs Falling Short": the LM score and the reverse LM score):

- quality: the samples under the model of the training text (lower: more like real text);
- coverage: held-out lines under a model of the samples (lower: the samples cover more of it).

The held-out rows are split once per corpus: the first F = min(FLOOR_LINES, M // 2) of the M
held-out rows are the validation floor's "samples", and the next ones (at most COVERAGE_LINES)
are the lines coverage is measured on, for generated samples and for the floor alike, so the
floor's samples never model the lines they are scored on. The floor scores those F real lines
exactly as generated samples are scored: floor_quality under the training text's model,
floor_coverage the coverage lines under a model of the F lines. With a held-out file (the shared
corpora hold 12,120 held-out lines) F is 640, as many lines as the paper's samples; with the 640
lines a corpus sets aside, F is 320 and the floor's coverage, from half as many lines, is higher.

The training text's model is built once per encoding and saved beside the encoding's cache in
`language/`, like the js reference (reference.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textgan.config import PAPER_EVAL_LINES
from textgan.data import cache
from textgan.data.corpus import EncodedCorpus
from textgan.evaluation.ngram_lm import ORDER, KneserNey, cross_entropy, kneser_ney, level
from textgan.rundir import records

LANGUAGE_DIR = "language"  # inside the encoding's cache directory
LANGUAGE_FORMAT = 1  # what a saved model holds and how it counts: bump when either changes
FLOOR_LINES = PAPER_EVAL_LINES  # held-out lines the floor scores as samples (at most)
COVERAGE_LINES = 10 * PAPER_EVAL_LINES  # held-out lines coverage is measured on (at most)
SAVED_ARRAYS = tuple(f"{part}{k}" for k in range(1, ORDER + 1) for part in ("keys", "counts"))


@dataclass(frozen=True, eq=False)
class LanguageReference:
    """What quality and coverage are measured against, built once per corpus."""

    model: KneserNey  # of the training rows
    floor_rows: np.ndarray  # (F, L) held-out rows the floor scores as samples
    coverage_rows: np.ndarray  # (C, L) held-out rows coverage is measured on


def split_heldout(heldout_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The floor's rows and the coverage rows of the held-out rows (M, L): disjoint, F and C."""
    floor = min(FLOOR_LINES, len(heldout_ids) // 2)
    return heldout_ids[:floor], heldout_ids[floor : floor + COVERAGE_LINES]


def language_reference(
    train_ids: np.ndarray, heldout_ids: np.ndarray, num_symbols: int
) -> LanguageReference:
    """The model of train_ids (N, L) and the split of heldout_ids (M, L)."""
    return LanguageReference(kneser_ney(train_ids, num_symbols), *split_heldout(heldout_ids))


def language_scores(sample_ids: np.ndarray, reference: LanguageReference) -> dict[str, float]:
    """{"quality": ..., "coverage": ...} of samples (N, L), in bits per character."""
    model = kneser_ney(sample_ids, reference.model.num_symbols)
    return {
        records.QUALITY: cross_entropy(reference.model, sample_ids),
        records.COVERAGE: cross_entropy(model, reference.coverage_rows),
    }


def language_floor(reference: LanguageReference) -> dict[str, float]:
    """language_scores of the floor's held-out rows ({} with a single held-out line)."""
    if not len(reference.floor_rows):
        return {}
    return language_scores(reference.floor_rows, reference)


def corpus_language(encoded: EncodedCorpus) -> LanguageReference:
    """The language reference of an encoded corpus, its model loaded from the cache when saved
    there for this very encoding, else built (from the training ids) and saved there."""
    directory = encoded.cache_dir / LANGUAGE_DIR if encoded.cache_dir is not None else None
    built_from = cache.manifest_digest(encoded.cache_dir) if encoded.cache_dir else None
    num_symbols = len(encoded.vocab)
    model = None
    if directory is not None and built_from is not None:
        model = load_model(directory, built_from, num_symbols)
    if model is None:
        model = kneser_ney(encoded.ids, num_symbols)
        if directory is not None and built_from is not None:
            save_model(directory, model, built_from)
    return LanguageReference(model, *split_heldout(encoded.heldout_ids))


def save_model(directory: Path, model: KneserNey, built_from: str) -> bool:
    arrays = {}
    for k, stats in enumerate(model.levels, start=1):
        arrays |= {f"keys{k}": stats.keys, f"counts{k}": stats.counts}
    meta = {"language_format": LANGUAGE_FORMAT, "built_from": built_from,
            "num_symbols": model.num_symbols, "order": model.order}  # fmt: skip
    return cache.save_arrays(directory, arrays, {}, meta)


def load_model(directory: Path, built_from: str, num_symbols: int) -> KneserNey | None:
    """The model saved in directory from the encoding `built_from`; None if there is none."""
    found = cache.load_arrays(directory, SAVED_ARRAYS)
    if found is None:
        return None
    arrays, _, manifest = found
    expected = {"language_format": LANGUAGE_FORMAT, "built_from": built_from,
                "num_symbols": num_symbols, "order": ORDER}  # fmt: skip
    if any(manifest.get(key) != value for key, value in expected.items()):
        return None
    levels = tuple(level(arrays[f"keys{k}"], arrays[f"counts{k}"], num_symbols)
                   for k in range(1, ORDER + 1))  # fmt: skip
    return KneserNey(num_symbols, levels)

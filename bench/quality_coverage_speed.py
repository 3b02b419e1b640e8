"""Speed of quality and coverage (textgan.evaluation.language) against a synthetic 1M-line corpus.

The corpus is made up, so it needs no download: --lines lines of 3 to 12 words drawn from a
Zipf-distributed list of --words random lowercase words (2 to 9 letters, a capital now and then,
a full stop at the end), plus a held-out file of 12,000 lines drawn the same way. It is written
to a temporary directory, encoded and cached as `textgan train` would, and the training text's
Kneser–Ney model is built, saved beside the cache, and loaded again. Then 640 held-out lines are
scored as samples (quality and coverage, what every evaluation adds), --repeats times; the figure
to read is `score_s`, the median (target: at most 2 s).

Usage (from the repository root, textgan importable, e.g. PYTHONPATH=. or pip install -e .):
    python3 bench/quality_coverage_speed.py [--lines 1000000] [--repeats 5]
"""

import argparse
import statistics
import string
import tempfile
import time
from pathlib import Path

import numpy as np

from textgan.data.corpus import encode_corpus
from textgan.evaluation.language import LANGUAGE_DIR, corpus_language, language_scores

SEQ_LEN = 32
HELDOUT_LINES = 12_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--words", type=int, default=200_000, help="distinct words")
    parser.add_argument("--samples", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def word_list(count: int, rng: np.random.Generator) -> np.ndarray:
    letters = np.array(list(string.ascii_lowercase))
    lengths = rng.integers(2, 10, size=count)
    return np.array(["".join(rng.choice(letters, size=n)) for n in lengths])


def synthetic_lines(count: int, words: np.ndarray, rng: np.random.Generator) -> list[str]:
    ranks = np.arange(1, len(words) + 1)
    weights = 1.0 / ranks / np.sum(1.0 / ranks)
    sizes = rng.integers(3, 13, size=count)
    chosen = rng.choice(words, size=int(sizes.sum()), p=weights)
    lines, start = [], 0
    for size in sizes.tolist():
        line = " ".join(chosen[start : start + size].tolist())
        start += size
        lines.append((line[0].upper() + line[1:] if rng.random() < 0.3 else line) + " .")
    return lines


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    words = word_list(args.words, rng)
    with tempfile.TemporaryDirectory() as tmp:
        corpus, heldout = Path(tmp) / "synthetic_train.txt", Path(tmp) / "synthetic_heldout.txt"
        lines, make_s = timed(synthetic_lines, args.lines, words, rng)
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        heldout.write_text("\n".join(synthetic_lines(HELDOUT_LINES, words, rng)) + "\n")
        print(f"corpus: {args.lines:,} lines, {corpus.stat().st_size / 2**20:.0f} MiB "
              f"(made up in {make_s:.1f} s); held-out: {HELDOUT_LINES:,} lines")  # fmt: skip
        encoded, encode_s = timed(lambda: encode_corpus(corpus, SEQ_LEN, 2048, heldout=heldout))
        print(f"encode_s={encode_s:.2f} ids={encoded.ids.shape} vocab={len(encoded.vocab)}")
        reference, build_s = timed(corpus_language, encoded)
        saved = encoded.cache_dir / LANGUAGE_DIR
        size = sum(p.stat().st_size for p in saved.iterdir()) / 2**20
        print(f"model_build_s={build_s:.2f}  (built once per corpus and saved: {size:.0f} MiB)")
        for k, stats in enumerate(reference.model.levels, start=1):
            print(f"  order {k}: {stats.keys.size:,} n-grams, {stats.contexts.size:,} contexts, "
                  f"D={stats.discount:.3f}")  # fmt: skip
        reference, load_s = timed(corpus_language, encode_corpus(corpus, SEQ_LEN, 2048,
                                                                 heldout=heldout))  # fmt: skip
        print(f"model_load_s={load_s:.2f}  (from the cache, checksums verified)")
        samples = encoded.heldout_ids[-args.samples :]  # disjoint from the floor and coverage
        runs = [timed(language_scores, samples, reference) for _ in range(args.repeats)]
        times = [seconds for _, seconds in runs]
        print(f"score_s={statistics.median(times):.3f}  (median of {args.repeats}: quality and "
              f"coverage of {args.samples} samples, coverage on "
              f"{len(reference.coverage_rows):,} held-out lines; target <= 2 s)")  # fmt: skip
        print(f"score_s_all={' '.join(f'{t:.3f}' for t in times)}")
        print("scores: " + " ".join(f"{k}={v:.4f}" for k, v in runs[0][0].items()))


if __name__ == "__main__":
    main()

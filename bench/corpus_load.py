"""Corpus loading speed: first load (read, vocabulary, encode, write the cache) against a cached
load (memory maps) followed by one full pass over every row, on a ≥1M-line corpus.

The corpus is $TEXTGAN_CORPORA/billion_words_train.txt repeated into a temp dir until it has
--lines lines (no held-out sibling: --holdout lines are set aside, the slower path). Each phase
runs in its own subprocess so that its peak memory (ru_maxrss) is its own.

Usage (from the repository root, textgan importable, e.g. pip install -e .):
    TEXTGAN_CORPORA=/work/shared/corpora python3 bench/corpus_load.py [--lines N]
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from textgan.data.corpus import _encode, _packed, encode_corpus, split_corpus
from textgan.data.vocab import train_vocab

SEQ_LEN = 32
MAX_VOCAB = 2048
HOLDOUT = 640
PASS_ROWS = 1 << 16


def full_pass(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """Count every id of every row, a block at a time (touches all pages of a memory map)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for start in range(0, len(ids), PASS_ROWS):
        counts += np.bincount(
            np.asarray(ids[start : start + PASS_ROWS]).ravel(), minlength=vocab_size
        )
    return counts


def load_phase(corpus: Path) -> dict:
    start = time.perf_counter()
    encoded = encode_corpus(corpus, SEQ_LEN, MAX_VOCAB, holdout=HOLDOUT)
    loaded = time.perf_counter()
    counts = full_pass(encoded.ids, len(encoded.vocab)) + full_pass(
        encoded.heldout_ids, len(encoded.vocab)
    )
    end = time.perf_counter()
    return {
        "lines": len(encoded.ids) + len(encoded.heldout_ids),
        "cached": encoded.cached,
        "cache_dir": str(encoded.cache_dir),
        "load_s": loaded - start,
        "pass_s": end - loaded,
        "total_s": end - start,
        "ids_sum": int(counts @ np.arange(len(counts))),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def parts_phase(corpus: Path) -> dict:
    """Where a first load spends its time (the same steps encode_corpus takes, no cache)."""
    times = {}
    start = time.perf_counter()
    split = split_corpus(corpus, None, HOLDOUT, 0)
    times["read_and_split_s"] = time.perf_counter() - start
    start = time.perf_counter()
    vocab = train_vocab(_packed(split.train, SEQ_LEN), MAX_VOCAB)
    times["vocab_s"] = time.perf_counter() - start
    start = time.perf_counter()
    _encode(vocab, split.train, SEQ_LEN), _encode(vocab, split.heldout, SEQ_LEN)
    times["encode_s"] = time.perf_counter() - start
    return times


def run_phase(phase: str, corpus: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--corpus", str(corpus)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def build_corpus(source: Path, lines: int, directory: Path) -> Path:
    data = source.read_bytes()
    data = data if data.endswith(b"\n") else data + b"\n"
    copies = math.ceil(lines / data.count(b"\n"))
    corpus = directory / "bench.txt"
    with corpus.open("wb") as f:
        for _ in range(copies):
            f.write(data)
    return corpus


def report(name: str, result: dict) -> None:
    rate = result["lines"] / result["total_s"]
    print(f"{name}: {result['lines']:,} lines in {result['total_s']:.2f} s = {rate:,.0f} lines/s "
          f"(load {result['load_s']:.2f} s + full pass {result['pass_s']:.2f} s), "
          f"peak {result['peak_mib']:.0f} MiB, from cache: {result['cached']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--phase", choices=["first", "cached", "parts"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase = parts_phase if args.phase == "parts" else load_phase
        print(json.dumps(phase(args.corpus)))
        return
    source = Path(os.environ.get("TEXTGAN_CORPORA", "/work/shared/corpora"))
    with tempfile.TemporaryDirectory() as tmp:
        corpus = build_corpus(source / "billion_words_train.txt", args.lines, Path(tmp))
        size = corpus.stat().st_size / 2**20
        print(f"corpus: {corpus} ({size:.0f} MiB), seq_len {SEQ_LEN}, {os.cpu_count()} CPUs")
        first, cached = run_phase("first", corpus), run_phase("cached", corpus)
        report("first load (read + vocabulary + encode + write cache)", first)
        report("cached load + full pass", cached)
        print(f"same ids: {first['ids_sum'] == cached['ids_sum']}  cache: {cached['cache_dir']}")
        parts = run_phase("parts", corpus)
        print("first load parts: " + "  ".join(f"{k}={v:.2f}" for k, v in parts.items()))


if __name__ == "__main__":
    main()

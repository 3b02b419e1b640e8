"""Corpus loading at scale: first load (read, vocabulary, encode, write the cache) against a cached
load (memory maps and one full pass over every row); the evaluation reference built, then loaded
from its cache; and, with --train-iters, a `textgan train --preset cpu` process on the corpus:
its peak memory, iterations/s, checkpoint size and save time.

The corpus is $TEXTGAN_CORPORA/billion_words_train.txt repeated until it has --lines lines,
written as X.txt with billion_words_heldout.txt beside it as X_heldout.txt (--holdout-lines:
no held-out file, lines set aside instead). Each phase runs in its own process, so that its peak
memory (ru_maxrss, which counts the memory-mapped cache pages it touched) is its own.

Usage (from the repository root, textgan importable, e.g. pip install -e .):
    TEXTGAN_CORPORA=/work/shared/corpora python3 bench/corpus_load.py [--lines N] [--dir DIR]
        [--train-iters 300]
--dir keeps the corpus (and its cache) there for the next invocation, which then measures only
the cached phases unless --fresh; without it, a temporary directory is used and removed.
--train-dim D --train-iters N: only a training process at --dim D that finds no cache, so that it
builds the encoding and the evaluation reference itself.
"""

import argparse
import io
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from textgan.data.corpus import encode_corpus
from textgan.evaluation.reference import corpus_reference
from textgan.rundir.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

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


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_phase(corpus: Path) -> dict:
    start = time.perf_counter()
    encoded = encode_corpus(corpus, SEQ_LEN, MAX_VOCAB, holdout=HOLDOUT)
    loaded = time.perf_counter()
    counts = full_pass(encoded.ids, len(encoded.vocab)) + full_pass(
        encoded.heldout_ids, len(encoded.vocab)
    )
    end = time.perf_counter()
    return {"lines": len(encoded.ids) + len(encoded.heldout_ids), "cached": encoded.cached,
            "cache_dir": str(encoded.cache_dir), "load_s": loaded - start,
            "pass_s": end - loaded, "ids_sum": int(counts @ np.arange(len(counts))),
            "vocab": len(encoded.vocab), "peak_mib": peak_mib()}  # fmt: skip


def reference_phase(corpus: Path) -> dict:
    """The evaluation reference of the cached corpus: built (and saved) the first time."""
    encoded = encode_corpus(corpus, SEQ_LEN, MAX_VOCAB, holdout=HOLDOUT)
    start = time.perf_counter()
    reference = corpus_reference(encoded)
    sizes = {"train_words": len(reference.train_words),
             "train_prefixes": len(reference.train_prefixes),
             "char_4grams": len(reference.chars.models[-1].keys)}  # fmt: skip
    return {"seconds": time.perf_counter() - start, "peak_mib": peak_mib(), **sizes}


def run_phase(phase: str, corpus: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--corpus", str(corpus)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def train_phase(corpus: Path, options: list[str], run_dir: Path) -> dict:
    """`textgan train --preset cpu OPTIONS` under /usr/bin/time -v: peak RSS and wall time."""
    shutil.rmtree(run_dir, ignore_errors=True)
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "textgan", "train", str(corpus),
               "--preset", "cpu", "--device", "cpu", "--critic-iters", "5", "--g-ema", "0",
               *options,
               "--run-dir", str(run_dir)]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    peak_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)[1])
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", out.stderr)[1]
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    checkpoint = latest_checkpoint(run_dir)
    saves = []
    payload = load_checkpoint(checkpoint)
    for _ in range(3):
        start = time.perf_counter()
        save_checkpoint(run_dir / "timed.pt", payload)
        saves.append(time.perf_counter() - start)
    (run_dir / "timed.pt").unlink()
    seconds = records[-1]["seconds"]  # training time, evaluations and checkpoints included
    wall_s = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
    return {"peak_mib": peak_kib / 1024, "wall_s": wall_s, "train_s": seconds,
            "its": records[-1]["iteration"] / seconds, "js4": records[-1]["js4"],
            "ckpt_bytes": checkpoint.stat().st_size, "save_s": min(saves),
            "sampler_bytes": saved_size(payload["rng"]["sampler"])}  # fmt: skip


def saved_size(value: object) -> int:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.tell()


def build_corpus(source: Path, lines: int, directory: Path) -> Path:
    """X.txt: the source file repeated to at least `lines` lines; X_heldout.txt beside it."""
    corpus = directory / f"bw{lines}.txt"
    data = source.read_bytes()
    data = data if data.endswith(b"\n") else data + b"\n"
    copies = math.ceil(lines / data.count(b"\n"))
    if not corpus.is_file() or corpus.stat().st_size != copies * len(data):
        with corpus.open("wb") as f:
            for _ in range(copies):
                f.write(data)
    heldout = source.with_name("billion_words_heldout.txt")
    copy = corpus.with_name(f"{corpus.stem}_heldout.txt")
    if not copy.is_file() or copy.read_bytes() != heldout.read_bytes():  # else the cache stays
        shutil.copyfile(heldout, copy)
    return corpus


def report(name: str, result: dict) -> None:
    total = result["load_s"] + result["pass_s"]
    print(f"{name}: {result['lines']:,} lines in {total:.1f} s (load {result['load_s']:.1f} s "
          f"+ full pass {result['pass_s']:.1f} s), peak {result['peak_mib']:.0f} MiB, "
          f"from cache: {result['cached']}")  # fmt: skip


def measure(corpus: Path, fresh: bool, train_iters: int, train_dim: int | None) -> None:
    cache = corpus.with_name(corpus.name + ".textgan")
    if train_dim is not None:  # the training process builds the cache and the reference itself
        shutil.rmtree(cache, ignore_errors=True)
        train(corpus, train_iters, ["--dim", str(train_dim)])
        return
    if fresh:
        shutil.rmtree(cache, ignore_errors=True)
        first = run_phase("load", corpus)
        report("first load (read + vocabulary + encode + write cache)", first)
    cached = run_phase("load", corpus)
    report("cached load + full pass", cached)
    print(f"vocabulary {cached['vocab']} ids, cache {cached['cache_dir']}")
    for label in ("built and saved" if fresh else "loaded", "loaded from its cache"):
        ref = run_phase("reference", corpus)
        print(f"evaluation reference {label}: {ref['seconds']:.1f} s, peak {ref['peak_mib']:.0f} "
              f"MiB ({ref['train_words']:,} words, {ref['train_prefixes']:,} prefixes, "
              f"{ref['char_4grams']:,} char 4-grams)")  # fmt: skip
    if train_iters:
        train(corpus, train_iters, [])


def train(corpus: Path, iters: int, extra: list[str]) -> None:
    options = [*extra, "--iters", str(iters), "--eval-every", "100", "--checkpoint-every", "100"]
    result = train_phase(corpus, options, corpus.with_name("bench-run"))
    print(f"textgan train --preset cpu {' '.join(options)}: peak {result['peak_mib']:.0f} MiB, "
          f"{result['its']:.2f} it/s over {result['train_s']:.0f} s of training "
          f"({result['wall_s']:.0f} s in all), js4 {result['js4']:.3f}; checkpoint "
          f"{result['ckpt_bytes'] / 2**20:.2f} MiB (data order {result['sampler_bytes']:,} "
          f"bytes), saved in {result['save_s']:.3f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, help="keep the corpus and its cache here")
    parser.add_argument("--fresh", action="store_true", help="with --dir: drop the cache first")
    parser.add_argument("--train-iters", type=int, default=0)
    parser.add_argument("--train-dim", type=int, help="only train, at this --dim, on no cache")
    parser.add_argument("--phase", choices=["load", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase = load_phase if args.phase == "load" else reference_phase
        print(json.dumps(phase(args.corpus)))
        return
    source = Path(os.environ.get("TEXTGAN_CORPORA", "/work/shared/corpora"))
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        corpus = build_corpus(source / "billion_words_train.txt", args.lines, directory)
        cached = corpus.with_name(corpus.name + ".textgan").exists()
        fresh = args.fresh or args.dir is None or not cached
        size = corpus.stat().st_size / 2**30
        print(f"corpus: {corpus} ({size:.2f} GiB), seq_len {SEQ_LEN}, {os.cpu_count()} CPUs")
        measure(corpus, fresh, args.train_iters, args.train_dim)


if __name__ == "__main__":
    main()

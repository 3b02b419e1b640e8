"""Speed of textgan.evaluation.metrics on a ≥1M-line corpus against a dict port of the paper's
metric code.

The corpus is the training file repeated until it has --lines lines, cut to 32 characters and
encoded as ids (sorted training characters, then unk, then pad). The "samples" are random
held-out lines. The port below follows igul222/improved_wgan_training language_helpers.py
(NgramLanguageModel, js_with) line by line on tuples of characters padded with '`', as its
load_dataset builds them.

Usage (from the repository root, textgan importable, e.g. PYTHONPATH=. or pip install -e .):
    TEXTGAN_CORPORA=/work/shared/corpora python3 bench/metrics_speed.py [--port-lines N]
"""

import argparse
import collections
import math
import os
import time
from pathlib import Path

import numpy as np

from textgan.evaluation.metrics import char_models, js_scores
from textgan.evaluation.reference import eval_reference, evaluate
from textgan.evaluation.words import word_index

SEQ_LEN = 32


class NgramLanguageModel:
    """The paper's dict-based n-gram model, ported to Python 3 (xrange -> range)."""

    def __init__(self, n, samples):
        self._n = n
        self._samples = samples
        self._ngram_counts = collections.defaultdict(int)
        self._total_ngrams = 0
        for ngram in self.ngrams():
            self._ngram_counts[ngram] += 1
            self._total_ngrams += 1

    def ngrams(self):
        n = self._n
        for sample in self._samples:
            for i in range(len(sample) - n + 1):
                yield sample[i : i + n]

    def unique_ngrams(self):
        return set(self._ngram_counts.keys())

    def log_likelihood(self, ngram):
        if ngram not in self._ngram_counts:
            return -np.inf
        return np.log(self._ngram_counts[ngram]) - np.log(self._total_ngrams)

    def js_with(self, p):
        log_p = np.array([p.log_likelihood(ngram) for ngram in p.unique_ngrams()])
        log_q = np.array([self.log_likelihood(ngram) for ngram in p.unique_ngrams()])
        log_m = np.logaddexp(log_p - np.log(2), log_q - np.log(2))
        kl_p_m = np.sum(np.exp(log_p) * (log_p - log_m))

        log_p = np.array([p.log_likelihood(ngram) for ngram in self.unique_ngrams()])
        log_q = np.array([self.log_likelihood(ngram) for ngram in self.unique_ngrams()])
        log_m = np.logaddexp(log_p - np.log(2), log_q - np.log(2))
        kl_q_m = np.sum(np.exp(log_q) * (log_q - log_m))

        return 0.5 * (kl_p_m + kl_q_m) / np.log(2)


def parse_args() -> argparse.Namespace:
    corpora = Path(os.environ.get("TEXTGAN_CORPORA", "/work/shared/corpora"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=corpora / "billion_words_train.txt")
    parser.add_argument("--heldout", type=Path, default=None, help="default: next to --corpus")
    parser.add_argument("--lines", type=int, default=1_000_000, help="at least this many lines")
    parser.add_argument("--samples", type=int, default=640)
    parser.add_argument("--port-lines", type=int, default=0, help="time the port on a subset")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.heldout = args.heldout or args.corpus.with_name("billion_words_heldout.txt")
    return args


def read_lines(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as file:
        return [line.rstrip("\n") for line in file if line.rstrip("\n")]


def encode(lines: list[str], chars: list[str]) -> np.ndarray:
    """ids (N, SEQ_LEN) through one code point -> id table over the whole joined text."""
    unk, pad = len(chars), len(chars) + 1
    table = np.full(0x110000, unk, dtype=np.uint8)  # code point -> id
    table[[ord(c) for c in chars]] = np.arange(len(chars))
    table[0] = pad  # NUL fills the positions past the line end; the corpus holds none
    text = "".join(line[:SEQ_LEN].ljust(SEQ_LEN, "\0") for line in lines)
    code_points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # (N·SEQ_LEN,)
    return table[code_points].reshape(len(lines), SEQ_LEN)  # (N, SEQ_LEN)


def paper_lines(lines: list[str], chars: set[str]) -> list[tuple[str, ...]]:
    """Lines as the paper's load_dataset gives them: cut, padded with '`', unseen chars -> 'unk'."""
    out = []
    for line in lines:
        cut = tuple(c if c in chars else "unk" for c in line[:SEQ_LEN])
        out.append(cut + ("`",) * (SEQ_LEN - len(cut)))
    return out


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def port_scores(train: list[tuple[str, ...]], samples: list[tuple[str, ...]]):
    true_models, build_s = timed(lambda: [NgramLanguageModel(n, train) for n in range(1, 5)])
    start = time.perf_counter()
    scores = {
        f"js{n}": float(NgramLanguageModel(n, samples).js_with(true_models[n - 1]))
        for n in range(1, 5)
    }
    return scores, build_s, time.perf_counter() - start


def main() -> None:
    args = parse_args()
    base, heldout = read_lines(args.corpus), read_lines(args.heldout)
    chars = sorted({c for line in base for c in line})
    assert "\0" not in chars and "`" not in chars, "the pad characters must not occur in the text"
    train = base * math.ceil(args.lines / len(base))
    rng = np.random.default_rng(args.seed)
    chosen = set(rng.choice(len(heldout), args.samples, replace=False).tolist())
    picked = [heldout[i][:SEQ_LEN] for i in sorted(chosen)]
    # The held-out index leaves the picked lines out, or every %-in-test would be 1.
    unpicked = [line for i, line in enumerate(heldout) if i not in chosen]
    num_symbols = len(chars) + 2
    print(f"corpus: {len(base):,} lines x {len(train) // len(base)} = {len(train):,} lines")

    train_ids, encode_s = timed(encode, train, chars)
    sample_ids = encode(picked, chars)
    print(f"encode_s={encode_s:.2f} num_symbols={num_symbols} ids={train_ids.shape}")
    reference_chars, build_s = timed(char_models, train_ids, num_symbols)
    print(f"char_models_build_s={build_s:.2f}  (target <= 30 s)")
    reference, reference_s = timed(eval_reference, train_ids, train, unpicked, num_symbols)
    print(f"eval_reference_build_s={reference_s:.2f}  (char models + word sets + prefixes)")
    # The repeated corpus has only len(base) distinct lines, which word_index deduplicates first;
    # tagging each line with its number shows the cost on as many distinct lines.
    _, words_s = timed(word_index, [f"{line} {i}" for i, line in enumerate(train)], 1)
    print(f"train_words_s={words_s:.2f}  (word set of {len(train):,} distinct lines)")
    scores, evaluate_s = timed(evaluate, sample_ids, picked, reference)
    print(f"evaluate_s={evaluate_s:.3f}  (all measures, {args.samples} samples; target <= 2 s)")
    js, js_s = timed(js_scores, sample_ids, reference_chars)
    print(f"js_scores_s={js_s:.3f}")
    print("scores: " + " ".join(f"{k}={v:.4f}" for k, v in scores.items()))
    compare_with_port(args, len(base), train, picked, chars, js, build_s, js_s)


def compare_with_port(args, base_len, train, picked, chars, js, build_s, js_s) -> None:
    # Whole repetitions of the base file have the same n-gram probabilities as the full corpus,
    # so a subset of them gives the same js values; only the port's build time is extrapolated.
    reps = len(train) // base_len
    if args.port_lines > 0:
        reps = min(reps, max(1, args.port_lines // base_len))
    subset = reps * base_len
    port_train = paper_lines(train[:subset], set(chars))
    port_js, port_build_s, port_js_s = port_scores(port_train, paper_lines(picked, set(chars)))
    scale = len(train) / subset
    if subset < len(train):
        print(
            f"port built on the first {subset:,} of {len(train):,} lines ({reps} whole copies of "
            f"the file, same probabilities); its build time is extrapolated linearly x{scale:.2f}"
        )
    port_build_s *= scale
    print(f"port_build_s={port_build_s:.2f} port_js_s={port_js_s:.3f}")
    print("port:    " + " ".join(f"{k}={v:.6f}" for k, v in port_js.items()))
    print("textgan: " + " ".join(f"{k}={v:.6f}" for k, v in js.items()))
    print(f"build_speedup={port_build_s / build_s:.1f}x js_speedup={port_js_s / js_s:.1f}x")
    total = (port_build_s + port_js_s) / (build_s + js_s)
    print(f"speedup={total:.1f}x  (build + js1..js4 of the samples, port / textgan; target >= 20x)")
    print(f"max_abs_diff={max(abs(port_js[k] - js[k]) for k in js):.3e}")


if __name__ == "__main__":
    main()

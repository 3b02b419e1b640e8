"""The one schema of metrics.jsonl and floor.json: the names of a record's values. The loop and
the evaluator write them; the live table, compare, plot and eval read them; none spells one."""

from __future__ import annotations

NGRAM_ORDERS = (1, 2, 3, 4)  # the paper's js1..js4, and the word n-grams of in_test1..4

# what the loop adds to each evaluation's record
ITERATION = "iteration"
SECONDS = "seconds"  # training time, earlier processes' (before --resume) included
CRITIC_LOSS = "critic_loss"
GENERATOR_LOSS = "generator_loss"
WASSERSTEIN = "wasserstein"  # E[D(real)] − E[D(fake)], the critic's estimate, for every loss
GP = "gp"  # the unweighted penalty: only with a penalty constraint
TRAIN_BPC = "train_bpc"  # a language model's cross-entropy on its batch, bits per character
TRAINING = (CRITIC_LOSS, GENERATOR_LOSS, WASSERSTEIN, GP, TRAIN_BPC)

# the generator's samples
WORD_VALIDITY = "word_validity"
DISTINCT = "distinct"
COPIED = "copied"

# the critic on real text
CRITIC_TRAIN = "critic_train"
CRITIC_HELDOUT = "critic_heldout"
CRITIC_GAP = "critic_gap"  # critic_train − critic_heldout: > 0 when it overfits

# a language model (--loss mle) on real text
HELDOUT_BPC = "heldout_bpc"  # its cross-entropy on held-out lines, bits per character


def js(n: int) -> str:
    """The Jensen–Shannon divergence of character n-grams, in bits: js1..js4."""
    return f"js{n}"


def in_test(n: int) -> str:
    """The share of the samples' word n-grams found in the held-out text: in_test1..4."""
    return f"in_test{n}"


def raw(key: str) -> str:
    """The raw generator's score on key, logged beside the average's when a run keeps one
    (--g-ema): js1_raw..js4_raw."""
    return f"{key}_raw"


def floor(key: str) -> str:
    """floor.json's name for what real held-out text scores on key (floor_js1, ...)."""
    return f"floor_{key}"


JS = tuple(js(n) for n in NGRAM_ORDERS)
IN_TEST = tuple(in_test(n) for n in NGRAM_ORDERS)
SAMPLE_SCORES = (*JS, WORD_VALIDITY, *IN_TEST, DISTINCT, COPIED)
CRITIC_SCORES = (CRITIC_TRAIN, CRITIC_HELDOUT, CRITIC_GAP)
# bits per character under smoothed character n-gram models (evaluation/language.py)
QUALITY = "quality"  # the samples under a model of the training text: how real they look
COVERAGE = "coverage"  # held-out text under a model of the samples: how much of it they cover

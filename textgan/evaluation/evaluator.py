"""Scoring a generator the paper's way (js1..js4), by quality and coverage (language.py), and by
word-level measures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from textgan.config import PAPER_EVAL_LINES, SAMPLE_DEVICE, TrainConfig
from textgan.data.corpus import EncodedCorpus, encode_corpus
from textgan.data.vocab import Vocab
from textgan.errors import TextganError
from textgan.evaluation.ancestral import CHUNK, ancestral_ids
from textgan.evaluation.critic_estimate import CriticBatches, critic_estimates
from textgan.evaluation.language import corpus_language, language_floor, language_scores
from textgan.evaluation.metrics import js_scores
from textgan.evaluation.reference import EvalReference, corpus_reference, evaluate
from textgan.evaluation.sampling import generate_ids, load_generator
from textgan.objectives.likelihood import bits, cross_entropy
from textgan.objectives.losses import Objective
from textgan.rundir import records
from textgan.rundir.schema import Checkpoint
from textgan.runtime.streams import seed_of

FLOOR_LINES = PAPER_EVAL_LINES  # held-out lines the validation floor scores


@dataclass(frozen=True)
class Evaluation:
    scores: dict[str, float]  # js1..js4, quality, coverage, the word measures
    samples: list[str]


class Evaluator:
    """Reference models of a corpus, built once; scores generated samples against them."""

    def __init__(
        self,
        encoded: EncodedCorpus,
        n_samples: int,
        seed: int = 0,
        *,
        temperature: float = 0.0,
        language_model: bool = False,
    ) -> None:
        """n_samples: generated lines scored per call (a run's --eval-samples); seed: the run's
        (it chooses the training lines the critic is scored on); temperature: the samples'
        (0 = argmax); language_model: the generator is one (models/language.py), sampled
        ancestrally, else a GAN's generator of noise."""
        self.vocab: Vocab = encoded.vocab
        self.n_samples = n_samples
        self.temperature, self.language_model = temperature, language_model
        self.heldout_lines = encoded.heldout_ids[:FLOOR_LINES]  # (M, L): heldout_bpc's
        self.critic_batches = CriticBatches.of(encoded.ids, encoded.heldout_ids, n_samples, seed,
                                               len(encoded.vocab))  # fmt: skip
        self.reference: EvalReference = corpus_reference(encoded)
        self.language = corpus_language(encoded)
        # validation floor: real held-out text against the model of all training lines
        floor = js_scores(encoded.heldout_ids[:FLOOR_LINES], self.reference.chars)
        floor |= language_floor(self.language)
        self.floor = {records.floor(k): v for k, v in floor.items()}

    def __call__(self, generator: nn.Module, seed: int) -> Evaluation:
        if self.language_model:
            length = self.heldout_lines.shape[1]
            ids = ancestral_ids(generator, self.n_samples, length, seed, self.temperature)
        else:
            ids = generate_ids(generator, self.n_samples, seed, self.temperature)
        return self.score(ids.numpy())  # (n, L)

    @torch.no_grad()
    def heldout_bpc(self, model: nn.Module) -> float:
        """A language model's cross-entropy on the held-out lines (up to FLOOR_LINES), every
        position, padding included, in bits per character (objectives/likelihood.py)."""
        device, training = next(model.parameters()).device, model.training
        model.eval()
        ids = torch.from_numpy(self.heldout_lines.astype(np.int64)).to(device)  # (M, L)
        nats = sum(cross_entropy(model(chunk), chunk).item() * chunk.numel()
                   for chunk in ids.split(CHUNK))  # fmt: skip
        model.train(training)
        return float(bits(nats / ids.numel()))

    def score(self, ids: np.ndarray) -> Evaluation:
        """All measures of samples given as ids (n, L) in this corpus's vocabulary."""
        samples = [self.vocab.decode(row) for row in ids.tolist()]
        scores = evaluate(ids, samples, self.reference)
        js = {key: scores.pop(key) for key in records.JS}  # quality and coverage come next
        return Evaluation({**js, **language_scores(ids, self.language), **scores}, samples)

    def critic_estimates(
        self, generator: nn.Module, critic: nn.Module, objective: Objective, seed: int
    ) -> dict[str, float]:
        """critic_train, critic_heldout and critic_gap (critic_estimate.critic_estimates)."""
        return critic_estimates(generator, critic, self.critic_batches, objective, seed)


def evaluate_checkpoint(
    checkpoint: Checkpoint,
    corpus: str | Path | None = None,
    heldout: str | Path | None = None,
    n: int | None = None,
    seed: int = 0,
    device: torch.device | str = SAMPLE_DEVICE,
    raw: bool = False,
) -> dict[str, float]:
    """All measures and the validation floor for a loaded checkpoint, its samples generated
    on device (only the generator moves there) by the average of the generator's weights where
    the run kept one (--g-ema), unless raw, at the run's evaluation temperature; the text and n
    as checkpoint_evaluator's. A language model's run adds its heldout_bpc."""
    generator, _ = load_generator(checkpoint, device, raw=raw)
    evaluator = checkpoint_evaluator(checkpoint, corpus, heldout, n)
    scores = evaluator(generator, seed).scores
    if evaluator.language_model:
        scores[records.HELDOUT_BPC] = evaluator.heldout_bpc(generator)
    return {"samples": evaluator.n_samples, **scores, **evaluator.floor}


def checkpoint_evaluator(
    checkpoint: Checkpoint,
    corpus: str | Path | None = None,
    heldout: str | Path | None = None,
    n: int | None = None,
) -> Evaluator:
    """The Evaluator of a loaded checkpoint's run, scoring n samples.

    The corpus and held-out text default to the ones the run was trained with (the same
    split: same file, seed and --holdout), encoded with the checkpoint's own vocabulary; n, the
    samples scored, to the run's --eval-samples.
    """
    config = TrainConfig.from_dict(checkpoint.config)
    n = config.eval_samples if n is None else n
    if n <= 0:
        raise TextganError(f"-n must be a positive number of samples, got {n}")
    corpus = corpus if corpus is not None else checkpoint.corpus
    heldout = heldout if heldout is not None else checkpoint.heldout
    if corpus is None:
        raise TextganError("the checkpoint does not name its corpus: pass --corpus")
    encoded = encode_corpus(corpus, config.seq_len, config.max_vocab, heldout=heldout,
                            holdout=config.holdout, seed=seed_of(config.seed, "held-out lines"),
                            vocab=Vocab(checkpoint.vocab), max_lines=config.max_lines,
                            other_text=True)  # fmt: skip
    return Evaluator(encoded, n, config.seed,
                     temperature=config.decoding_temperature(config.eval_temperature),
                     language_model=not config.needs_critic)  # fmt: skip

"""A run's iteration, by its kind: a GAN's critic and generator steps on its gradient engine, or
a language model's one optimiser step on one batch (--loss mle). The loop runs either alike."""

from __future__ import annotations

import functools

import torch
from torch import nn

from textgan.config import LM_MAX_GRAD_NORM
from textgan.engines.choice import Engine, build_engine
from textgan.engines.language import LanguageModelEngine
from textgan.objectives.likelihood import bits
from textgan.rundir import records
from textgan.runtime.device import compute_dtype
from textgan.training.distributed import average_gradients
from textgan.training.state import TrainState, set_learning_rates
from textgan.training.steps import Iteration, gan_iteration, set_grads, step_average

RunEngine = Engine | LanguageModelEngine


def run_iteration(state: TrainState) -> tuple[Iteration, RunEngine, str]:
    """The iteration of state's run, the engine it trains on and why that engine."""
    config = state.config
    if config.needs_critic:
        engine, why = build_engine(config, state.generator, state.critic, state.device)
        return functools.partial(gan_iteration, engine=engine), engine, why
    engine = LanguageModelEngine(state.generator, compute_dtype(config.precision, state.device))
    why = f"--loss {config.loss}: a language model trains by autograd"
    return functools.partial(language_model_iteration, engine=engine), engine, why


def language_model_iteration(
    state: TrainState, engine: LanguageModelEngine
) -> dict[str, torch.Tensor]:
    """One optimiser step of the language model on one batch of real lines: teacher-forced
    cross-entropy over every position (padding included, so it learns where lines end), the
    gradients averaged across processes and their global norm clipped at LM_MAX_GRAD_NORM; then
    the average of its weights (--g-ema). Logs the batch's cross-entropy in bits per character."""
    set_learning_rates(state)  # --lr-decay
    loss, grads = engine.grads(state.real_batch())  # a (B, L) batch of ids
    set_grads(state.generator, grads)
    average_gradients(state.generator, state.world)
    nn.utils.clip_grad_norm_(state.generator.parameters(), LM_MAX_GRAD_NORM)
    state.opt_g.step()
    step_average(state)
    state.iteration += 1
    return {records.TRAIN_BPC: bits(loss)}

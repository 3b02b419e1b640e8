"""The training step as small named functions: a critic step, a generator step and an iteration
of both. The engine computes losses and named gradients; these functions set the gradients,
average them across processes and step the optimisers."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from textgan.engines.choice import Engine, build_engine
from textgan.objectives.losses import CriticLoss
from textgan.rundir import records
from textgan.training.average import update_average
from textgan.training.distributed import average_gradients
from textgan.training.state import TrainState, set_learning_rates

MAX_SAMPLING_ROWS = 1024  # generated rows per sampling call (bounds its buffers' memory)


def make_engine(state: TrainState) -> Engine:
    """The engine that trains state's models (engines.choice: fused where it can)."""
    return build_engine(state.config, state.generator, state.critic, state.device)[0]


def set_grads(module: nn.Module, grads: dict[str, torch.Tensor]) -> None:
    """param.grad = grads[name] for every trainable named parameter of module, in the
    parameter's dtype. The names must be exactly those and the shapes the parameters': an engine
    that missed or misnamed a parameter is a bug, caught here rather than trained with."""
    params = {name: p for name, p in module.named_parameters() if p.requires_grad}
    if grads.keys() != params.keys():
        missing, unknown = params.keys() - grads.keys(), grads.keys() - params.keys()
        raise RuntimeError(f"gradients missing for {sorted(missing)}, given for unknown "
                           f"{sorted(unknown)}")  # fmt: skip
    for name, param in params.items():
        grad = grads[name]
        if grad.shape != param.shape:
            raise RuntimeError(f"gradient of {name} has shape {tuple(grad.shape)}, "
                               f"the parameter {tuple(param.shape)}")  # fmt: skip
        # in the parameter's own layout: the fused optimisers read .grad as laid out like the
        # parameter, and autograd hands back a conv weight's gradient permuted
        param.grad = grad.to(param.dtype).contiguous()


def critic_step(
    state: TrainState, engine: Engine, real_ids: torch.Tensor, fake: torch.Tensor | None = None
) -> CriticLoss:
    """One critic update on a (B, L) batch of real ids against generated rows (B, L, V)
    (fresh ones when not given), then the constraint's action after a step, if it has one."""
    if fake is None:
        fake = generate_fakes(state, engine, 1)[0]
    parts, grads = engine.critic_grads(real_ids, fake, state.alpha())
    set_grads(state.critic, grads)
    average_gradients(state.critic, state.world)
    state.opt_c.step()
    objective = engine.objective
    if (after_step := objective.constraint_entry.after_step) is not None:
        after_step(state.critic, objective.weight)  # e.g. --constraint clip: clamp the weights
    return parts


def generator_step(state: TrainState, engine: Engine) -> torch.Tensor:
    """One generator update against the current critic (whose weights get no gradient), then
    the generator's average's (--g-ema): a copy before --g-ema-start."""
    loss, grads = engine.generator_grads(state.noise())
    set_grads(state.generator, grads)
    average_gradients(state.generator, state.world)
    state.opt_g.step()
    step_average(state)
    return loss


def step_average(state: TrainState) -> None:
    """The generator's average (--g-ema), if the run keeps one, after a generator step: a
    copy before --g-ema-start."""
    if state.generator_ema is not None:
        config = state.config
        decay = config.g_ema if state.iteration >= config.g_ema_start else 0.0
        update_average(state.generator_ema, state.generator, decay)


def generate_fakes(state: TrainState, engine: Engine, count: int) -> torch.Tensor:
    """count batches of generated rows (count, B, L, V), from count noise draws in order.

    The generator does not change between critic steps, so an iteration's samples are made
    together: larger matrix products, and its weights are laid out once."""
    batch, length, vocab = state.config.batch_size, state.config.seq_len, len(state.vocab)
    per_call = max(1, MAX_SAMPLING_ROWS // batch)
    fakes = []
    for start in range(0, count, per_call):
        steps = min(per_call, count - start)
        noise = torch.cat([state.noise() for _ in range(steps)])  # (steps·B, noise_dim)
        fakes.append(engine.generate(noise).view(steps, batch, length, vocab))
    return fakes[0] if len(fakes) == 1 else torch.cat(fakes)  # one call: no copy


# One iteration of a run: state → the values it logs, by their metrics names (0-d tensors on the
# run's device, read once by the loop). A GAN's is gan_iteration; a run without a critic brings
# its own (its optimiser steps on state, its own losses), and the loop runs either alike.
Iteration = Callable[[TrainState], dict[str, torch.Tensor]]


def gan_iteration(state: TrainState, engine: Engine) -> dict[str, torch.Tensor]:
    """train_iteration, and what it logs: the critic's loss and estimate on its last batch,
    the penalty (with one) and the generator's loss (from the second iteration on)."""
    parts, generator_loss = train_iteration(state, engine)
    logged = {records.CRITIC_LOSS: parts.loss, records.GENERATOR_LOSS: generator_loss,
              records.WASSERSTEIN: parts.wasserstein, records.GP: parts.gp}  # fmt: skip
    return {name: value for name, value in logged.items() if value is not None}


def train_iteration(state: TrainState, engine: Engine) -> tuple[CriticLoss, torch.Tensor | None]:
    """1 generator step (skipped at iteration 0) + critic_iters critic steps, at the learning
    rates of the iteration (--lr-decay)."""
    set_learning_rates(state)
    g_loss = generator_step(state, engine) if state.iteration > 0 else None
    for fake in generate_fakes(state, engine, state.config.critic_iters):
        parts = critic_step(state, engine, state.real_batch(), fake)
    state.iteration += 1
    return parts, g_loss

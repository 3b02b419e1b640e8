"""The training loop: critic_step(), generator_step(), train(). Prints nothing."""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from textgan import __version__
from textgan.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from textgan.config import ModelConfig, TrainConfig
from textgan.corpus import EncodedCorpus, encode_corpus
from textgan.data import BatchSampler, one_hot
from textgan.device import autocast_dtype, resolve_device
from textgan.errors import TextganError
from textgan.fileio import atomic_write_text
from textgan.losses import CriticLoss, fused_critic_loss, generator_loss
from textgan.model import Critic, Generator, build_models
from textgan.vocab import Vocab

# Options that may differ when a run is resumed; everything else must match the checkpoint.
RESUMABLE_OPTIONS = ("iters", "checkpoint_every", "keep", "device", "precision")


@dataclass(frozen=True)
class StepStats:
    """What one iteration did; generator_loss is nan at the run's very first iteration."""

    iteration: int  # iterations completed so far
    critic_loss: float
    generator_loss: float
    wasserstein: float  # D(real) − D(fake) on the last critic batch
    gp: float
    seconds: float  # since this process started training


@dataclass(frozen=True)
class RunInfo:
    """Handed to on_start before the first iteration."""

    run_dir: Path
    config: TrainConfig
    device: torch.device
    precision: str
    vocab_size: int
    num_lines: int
    start_iteration: int
    resumed: bool


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    iteration: int
    checkpoint: Path
    last: StepStats | None


@dataclass
class TrainState:
    """Models, optimisers, data and RNGs of a run: everything a checkpoint holds."""

    config: TrainConfig
    vocab: Vocab
    generator: Generator
    critic: Critic
    opt_g: torch.optim.Optimizer
    opt_c: torch.optim.Optimizer
    sampler: BatchSampler
    noise_rng: torch.Generator
    alpha_rng: torch.Generator
    device: torch.device
    amp_dtype: torch.dtype | None
    iteration: int = 0

    def noise(self) -> torch.Tensor:  # (B, noise_dim)
        shape = (self.config.batch_size, self.config.noise_dim)
        return torch.randn(shape, generator=self.noise_rng, device=self.device)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)


def critic_step(state: TrainState, real_ids: torch.Tensor) -> CriticLoss:
    """One critic update on a (B, L) batch of real ids against fresh generated samples."""
    real = one_hot(real_ids, len(state.vocab))  # (B, L, V)
    with torch.no_grad(), state.autocast():
        fake = state.generator(state.noise())  # (B, L, V)
    state.opt_c.zero_grad(set_to_none=True)
    with state.autocast():
        parts = fused_critic_loss(state.critic, real, fake, state.config.gp_weight, state.alpha_rng)
    parts.loss.backward()
    state.opt_c.step()
    return parts


def generator_step(state: TrainState) -> torch.Tensor:
    """One generator update against the current critic (whose weights get no gradient)."""
    state.critic.requires_grad_(False)
    state.opt_g.zero_grad(set_to_none=True)
    with state.autocast():
        loss = generator_loss(state.critic, state.generator(state.noise()))
    loss.backward()
    state.opt_g.step()
    state.critic.requires_grad_(True)
    return loss.detach()


def train_iteration(state: TrainState) -> tuple[CriticLoss, torch.Tensor | None]:
    """1 generator step (skipped at iteration 0) + critic_iters critic steps."""
    g_loss = generator_step(state) if state.iteration > 0 else None
    for _ in range(state.config.critic_iters):
        parts = critic_step(state, state.sampler.next())
    state.iteration += 1
    return parts, g_loss


def train(
    config: TrainConfig,
    corpus: str | Path,
    run_dir: str | Path | None = None,
    *,
    resume: bool = False,
    on_start: Callable[[RunInfo], None] | None = None,
    on_step: Callable[[StepStats], None] | None = None,
) -> TrainResult:
    """Train (or, with resume, continue) a run up to config.iters iterations in total."""
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(corpus)
    saved = load_checkpoint(latest_checkpoint(run_dir)) if resume else None
    if saved is not None:
        check_resumable(TrainConfig.from_dict(saved["config"]), config)
    state, encoded = build_state(config, corpus, saved)
    if saved is None:
        start_run_dir(run_dir, config, corpus)
    if on_start is not None:
        info = RunInfo(run_dir, config, state.device, _precision_name(state), len(state.vocab),
                       len(encoded.ids), state.iteration, saved is not None)  # fmt: skip
        on_start(info)
    last = None
    for last in _iterations(state):
        if on_step is not None:
            on_step(last)
        if state.iteration % config.checkpoint_every == 0 or state.iteration == config.iters:
            write_checkpoint(state, run_dir, corpus)
    return TrainResult(run_dir, state.iteration, latest_checkpoint(run_dir), last)


def _iterations(state: TrainState) -> Iterator[StepStats]:
    start = time.perf_counter()
    while state.iteration < state.config.iters:
        parts, g_loss = train_iteration(state)
        gen = parts.gp.new_full((), math.nan) if g_loss is None else g_loss
        values = torch.stack([parts.loss.detach(), parts.wasserstein, parts.gp, gen]).float()
        critic, wasserstein, gp, gen_loss = values.tolist()  # the iteration's one host sync
        finite = [critic, wasserstein, gp] + ([] if g_loss is None else [gen_loss])
        if not all(math.isfinite(v) for v in finite):
            raise TextganError(
                f"training diverged: non-finite loss at iteration {state.iteration} "
                f"(critic {critic}, generator {gen_loss}); the last checkpoint is kept"
            )
        elapsed = time.perf_counter() - start
        yield StepStats(state.iteration, critic, gen_loss, wasserstein, gp, elapsed)


def build_state(
    config: TrainConfig, corpus: str | Path, saved: dict[str, Any] | None
) -> tuple[TrainState, EncodedCorpus]:
    """Everything a run needs on its device, fresh or restored from a checkpoint."""
    device = resolve_device(config.device)
    vocab = Vocab(saved["vocab"]) if saved is not None else None
    encoded = encode_corpus(corpus, config.seq_len, config.max_vocab, vocab=vocab)
    model_config = config.model_config(len(encoded.vocab))
    generator, critic = build_models(model_config, config.seed)
    generator, critic = generator.to(device), critic.to(device)
    state = TrainState(
        config=config,
        vocab=encoded.vocab,
        generator=generator,
        critic=critic,
        opt_g=_adam(generator, config, device),
        opt_c=_adam(critic, config, device),
        sampler=BatchSampler(encoded.ids, config.batch_size, device, config.seed),
        noise_rng=torch.Generator(device=device).manual_seed(config.seed + 1),
        alpha_rng=torch.Generator(device=device).manual_seed(config.seed + 2),
        device=device,
        amp_dtype=autocast_dtype(config.precision, device),
    )
    if saved is not None:
        restore_state(state, saved)
    return state, encoded


def _adam(module: torch.nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Adam:
    fused = device.type == "cuda"
    return torch.optim.Adam(module.parameters(), lr=config.lr, betas=config.betas, fused=fused)


def write_checkpoint(state: TrainState, run_dir: Path, corpus: str | Path) -> Path:
    path = checkpoint_path(run_dir, state.iteration)
    try:
        save_checkpoint(path, checkpoint_payload(state, corpus))
    except OSError as err:
        raise TextganError(f"cannot write checkpoint {path}: {err.strerror or err}") from err
    prune_checkpoints(run_dir, state.config.keep)
    return path


def checkpoint_payload(state: TrainState, corpus: str | Path) -> dict[str, Any]:
    model_config = state.generator.config
    return {
        "textgan_version": __version__,
        "iteration": state.iteration,
        "config": state.config.to_dict(),
        "model": {k: getattr(model_config, k) for k in ModelConfig.__dataclass_fields__},
        "vocab": state.vocab.model_proto,
        "corpus": str(corpus),
        "generator": state.generator.state_dict(),
        "critic": state.critic.state_dict(),
        "opt_g": state.opt_g.state_dict(),
        "opt_c": state.opt_c.state_dict(),
        "rng": {
            "noise": state.noise_rng.get_state(),
            "alpha": state.alpha_rng.get_state(),
            "sampler": state.sampler.state_dict(),
        },
    }


def restore_state(state: TrainState, saved: dict[str, Any]) -> None:
    if saved["model"] != {k: getattr(state.generator.config, k) for k in saved["model"]}:
        raise TextganError("the checkpoint's model does not match this corpus and configuration")
    state.generator.load_state_dict(saved["generator"])
    state.critic.load_state_dict(saved["critic"])
    state.opt_g.load_state_dict(saved["opt_g"])
    state.opt_c.load_state_dict(saved["opt_c"])
    state.noise_rng.set_state(saved["rng"]["noise"])
    state.alpha_rng.set_state(saved["rng"]["alpha"])
    state.sampler.load_state_dict(saved["rng"]["sampler"])
    state.iteration = int(saved["iteration"])


def check_resumable(saved: TrainConfig, config: TrainConfig) -> None:
    """Refuse to resume with options that would change the run's model or data."""
    changed = [
        name
        for name, value in saved.to_dict().items()
        if name not in RESUMABLE_OPTIONS and config.to_dict()[name] != value
    ]
    if changed:
        flags = ", ".join("--" + name.replace("_", "-") for name in changed)
        raise TextganError(f"cannot resume with a different {flags} than the run was started with")
    if config.iters <= 0:
        raise TextganError("--iters must be positive")


def resume_config(run_dir: str | Path, **overrides: Any) -> TrainConfig:
    """The saved config of a run, with the options that may change on resume overridden."""
    saved = load_checkpoint(latest_checkpoint(Path(run_dir)))
    values = saved["config"] | {k: v for k, v in overrides.items() if v is not None}
    return TrainConfig.from_dict(values)


def default_run_dir(corpus: str | Path, root: str | Path = "runs") -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{Path(corpus).stem}-{stamp}"


def start_run_dir(run_dir: Path, config: TrainConfig, corpus: str | Path) -> None:
    """Create the run dir and write config.json; never overwrite an existing run."""
    if list_checkpoints(run_dir):
        raise TextganError(
            f"{run_dir} already holds a run: add --resume, or pick another --run-dir"
        )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"corpus": str(corpus), **config.to_dict()}, indent=2) + "\n"
        atomic_write_text(run_dir / "config.json", text)
    except OSError as err:
        raise TextganError(f"cannot write to run dir {run_dir}: {err.strerror or err}") from err


def _precision_name(state: TrainState) -> str:
    return "bf16" if state.amp_dtype == torch.bfloat16 else "fp32"

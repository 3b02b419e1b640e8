"""A run's state: models, optimisers, data and RNGs; built fresh, saved and restored."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from textgan import __version__
from textgan.config import ModelConfig, TrainConfig
from textgan.data.corpus import EncodedCorpus, cached_corpus, encode_corpus
from textgan.data.sampler import BatchSampler
from textgan.data.vocab import Vocab
from textgan.errors import TextganError
from textgan.models.resnet import Critic, Generator, build_models
from textgan.objectives.penalty import sample_alpha
from textgan.training.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from textgan.training.device import resolve_device, tune_backend
from textgan.training.distributed import SINGLE_PROCESS, World, main_first
from textgan.training.streams import restore_generator

RESUMABLE_OPTIONS = (
    "iters", "checkpoint_every", "keep", "device", "precision", "conv", "eval_every",
    "eval_samples",
)  # fmt: skip


@dataclass
class TrainState:
    """Models, optimisers, data, random generators and counters of a run: everything a
    checkpoint holds. (What an engine keeps between steps belongs to the engine.)"""

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
    world: World = SINGLE_PROCESS
    iteration: int = 0
    seconds: float = 0.0  # training time before this process, restored on resume
    reseeded_from: str | None = None  # device type of saved random states that did not fit

    def noise(self) -> torch.Tensor:  # (B, noise_dim): this rank's rows of the global batch's
        shape = (self.world.size * self.config.batch_size, self.config.noise_dim)
        return self.world.shard(torch.randn(shape, generator=self.noise_rng, device=self.device))

    def alpha(self) -> torch.Tensor:  # (B,): this rank's interpolation weights
        size = self.world.size * self.config.batch_size
        return self.world.shard(sample_alpha(size, self.device, self.alpha_rng))

    def real_batch(self) -> torch.Tensor:  # (B, L) ids: this rank's rows of the global batch
        return self.world.shard(self.sampler.next())


def build_state(
    config: TrainConfig,
    corpus: str | Path,
    saved: dict[str, Any] | None = None,
    heldout: str | Path | None = None,
    *,
    world: World = SINGLE_PROCESS,
    device: torch.device | None = None,
) -> tuple[TrainState, EncodedCorpus]:
    """Everything a run needs on its device, fresh or restored from a checkpoint."""
    device = device if device is not None else resolve_device(config.device)
    tune_backend(device)
    vocab = Vocab(saved["vocab"]) if saved is not None else None
    encoding = dict(seq_len=config.seq_len, max_vocab=config.max_vocab, heldout=heldout,
                    holdout=config.holdout, seed=config.seed, vocab=vocab,
                    max_lines=config.max_lines)  # fmt: skip
    # rank 0 encodes the corpus and writes its cache; the others read that cache
    encode = partial(encode_corpus, corpus, **encoding)
    encoded = main_first(world, encode, encode, partial(cached_corpus, corpus, **encoding))
    model_config = config.model_config(len(encoded.vocab))
    generator, critic = build_models(model_config, config.seed)
    generator, critic = generator.to(device), critic.to(device)
    state = TrainState(
        config=config,
        vocab=encoded.vocab,
        generator=generator,
        critic=critic,
        opt_g=_adam(generator, config),
        opt_c=_adam(critic, config),
        sampler=BatchSampler(encoded.ids, config.batch_size * world.size, device, config.seed),
        noise_rng=torch.Generator(device=device).manual_seed(config.seed + 1),
        alpha_rng=torch.Generator(device=device).manual_seed(config.seed + 2),
        device=device,
        world=world,
    )
    if saved is not None:
        restore_state(state, saved)
    return state, encoded


def _adam(module: torch.nn.Module, config: TrainConfig) -> torch.optim.Adam:
    """Adam with its fused kernel (CPU and CUDA): one pass over all parameters per step."""
    return torch.optim.Adam(module.parameters(), lr=config.lr, betas=config.betas, fused=True)


def write_checkpoint(
    state: TrainState, run_dir: Path, corpus: str | Path, heldout: str | None = None
) -> Path:
    path = checkpoint_path(run_dir, state.iteration)
    try:
        save_checkpoint(path, checkpoint_payload(state, corpus, heldout))
    except OSError as err:
        raise TextganError(f"cannot write checkpoint {path}: {err.strerror or err}") from err
    prune_checkpoints(run_dir, state.config.keep)
    return path


def checkpoint_payload(
    state: TrainState, corpus: str | Path, heldout: str | None = None
) -> dict[str, Any]:
    model_config = state.generator.config
    return {
        "textgan_version": __version__,
        "iteration": state.iteration,
        "config": state.config.to_dict(),
        "model": {k: getattr(model_config, k) for k in ModelConfig.__dataclass_fields__},
        "vocab": state.vocab.model_proto,
        "corpus": str(corpus),
        "heldout": heldout,
        "seconds": state.seconds,
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
    for optimizer, saved_state in ((state.opt_g, saved["opt_g"]), (state.opt_c, saved["opt_c"])):
        optimizer.load_state_dict(saved_state)
        for group in optimizer.param_groups:  # a checkpoint's own settings may predate fused
            group["fused"], group["foreach"] = True, None
    state.iteration = int(saved["iteration"])
    state.seconds = float(saved.get("seconds", 0.0))
    _restore_streams(state, saved["rng"])


def _restore_streams(state: TrainState, saved: dict[str, Any]) -> None:
    """The random streams' saved states; those saved on another device type are re-seeded
    (streams.py) and state.reseeded_from says which type that was."""
    seed, iteration = state.config.seed, state.iteration
    moved = [
        restore_generator(state.noise_rng, saved["noise"], "noise", seed, iteration),
        restore_generator(state.alpha_rng, saved["alpha"], "interpolation", seed, iteration),
        state.sampler.load_state_dict(saved["sampler"], iteration),
    ]
    state.reseeded_from = next((kind for kind in moved if kind is not None), None)


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

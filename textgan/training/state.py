"""A run's state: models, optimisers, data and RNGs; built fresh, saved and restored."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from textgan import __version__
from textgan.config import (
    CRITIC_OPTIONS,
    RESUMABLE_OPTIONS,
    TrainConfig,
    critic_option_refusal,
)
from textgan.data.corpus import EncodedCorpus, cached_corpus, encode_corpus
from textgan.data.sampler import BatchSampler
from textgan.data.vocab import Vocab
from textgan.errors import TextganError
from textgan.models.build import ModelSpec, check_classes, class_name, run_models
from textgan.objectives.penalty import sample_alpha
from textgan.rundir.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from textgan.rundir.schema import Checkpoint
from textgan.runtime.device import resolve_device
from textgan.runtime.streams import restore_generator, seed_of
from textgan.training.average import make_average
from textgan.training.distributed import SINGLE_PROCESS, World, all_values
from textgan.training.leaders import main_first

# the key, in each optimiser param group (and its checkpoint), of the configured learning rate,
# which --lr-decay scales into the group's "lr" (torch's schedulers use the same key)
INITIAL_LR = "initial_lr"


@dataclass
class TrainState:
    """Models, optimisers, data, random generators and counters of a run: everything a
    checkpoint holds. (What an engine keeps between steps belongs to the engine.)"""

    config: TrainConfig
    vocab: Vocab
    generator: nn.Module  # built-in Generator, or a caller's model
    critic: nn.Module | None  # None: a run whose loss trains no critic
    opt_g: torch.optim.Optimizer
    opt_c: torch.optim.Optimizer | None
    sampler: BatchSampler
    noise_rng: torch.Generator
    alpha_rng: torch.Generator
    device: torch.device
    world: World = SINGLE_PROCESS
    iteration: int = 0
    seconds: float = 0.0  # training time before this process, restored on resume
    reseeded_from: str | None = None  # device type of saved random states that did not fit
    generator_ema: nn.Module | None = None  # the average of the generator (--g-ema), if any
    rates_changed: str | None = None  # on resume: the learning rates that changed, and how

    @property
    def scored_generator(self) -> nn.Module:
        """What evaluation scores: the average when the run keeps one, else the generator."""
        return self.generator if self.generator_ema is None else self.generator_ema

    def noise(self) -> torch.Tensor:  # (B, noise_dim): this rank's rows of the global batch's
        shape = (self.world.size * self.config.batch_size, self.generator.noise_dim)
        return self.world.shard(torch.randn(shape, generator=self.noise_rng, device=self.device))

    def alpha(self) -> torch.Tensor:  # (B,): this rank's interpolation weights
        size = self.world.size * self.config.batch_size
        return self.world.shard(sample_alpha(size, self.device, self.alpha_rng))

    def real_batch(self) -> torch.Tensor:  # (B, L) ids: this rank's rows of the global batch
        return self.world.shard(self.sampler.next())


def build_state(
    config: TrainConfig,
    corpus: str | Path,
    saved: Checkpoint | None = None,
    heldout: str | Path | None = None,
    *,
    world: World = SINGLE_PROCESS,
    device: torch.device | None = None,
    generator: ModelSpec = None,
    critic: ModelSpec = None,
    run_id: str | None = None,
) -> tuple[TrainState, EncodedCorpus]:
    """Everything a run needs on its device, fresh or restored from a checkpoint; generator and
    critic: a caller's models (models.build.run_models), else the built-in ones; run_id (needed
    in a process group): the same on every rank, another for every build of a state there."""
    if world.distributed and run_id is None:
        raise ValueError("build_state in a process group needs a run_id")
    device = device if device is not None else resolve_device(config.device)
    vocab = Vocab(saved.vocab) if saved is not None else None
    encoding = dict(seq_len=config.seq_len, max_vocab=config.max_vocab, heldout=heldout,
                    holdout=config.holdout, seed=seed_of(config.seed, "held-out lines"),
                    vocab=vocab, max_lines=config.max_lines)  # fmt: skip
    # each machine's local rank 0 encodes the corpus and writes its cache (machines that share
    # the file system write identical files, each renamed into place, the manifest last: a
    # reader never takes a mix); the others on the machine read that cache
    encode = partial(encode_corpus, corpus, **encoding)
    encoded = main_first(world, encode, encode, partial(cached_corpus, corpus, **encoding),
                         key=f"{run_id}/corpus", per_node=True)  # fmt: skip
    _check_same_corpus(world, encoded)
    model_config = config.model_config(len(encoded.vocab))
    generator, critic = run_models(config, model_config, generator, critic)
    generator = generator.to(device)
    critic = critic.to(device) if critic is not None else None  # None: a language model's run
    state = TrainState(
        config=config,
        vocab=encoded.vocab,
        generator=generator,
        critic=critic,
        opt_g=_optimizer(generator, config, config.generator_lr),
        opt_c=_optimizer(critic, config, config.critic_lr) if critic is not None else None,
        sampler=BatchSampler(
            encoded.ids, config.batch_size * world.size, device, seed_of(config.seed, "data order")
        ),
        noise_rng=_stream(device, config.seed, "noise"),
        alpha_rng=_stream(device, config.seed, "interpolation"),
        device=device,
        world=world,
    )
    if saved is not None:
        restore_state(state, saved)
    if config.g_ema > 0:  # a copy of the generator now, unless the checkpoint had an average
        state.generator_ema = make_average(state.generator)
        if saved is not None and saved.generator_ema is not None:
            state.generator_ema.load_state_dict(saved.generator_ema)
    return state, encoded


def _check_same_corpus(world: World, encoded: EncodedCorpus) -> None:
    """Every rank slices the global batch from its own copy of the corpus: refuse copies that
    differ (another text, or another held-out file), naming the first node whose copy does."""
    if not world.distributed:
        return
    digests = all_values((world.node, encoded.digest()), world)
    other = next((node for node, digest in digests if digest != digests[0][1]), None)
    if other is not None:
        raise TextganError(
            f"node {other}'s corpus or held-out text differs from node 0's (another encoding): "
            "every node needs the same files at the same path"
        )


def _stream(device: torch.device, seed: int, stream: str) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed_of(seed, stream))


def _optimizer(module: nn.Module, config: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """--optimizer adam: Adam with its fused kernel (CPU and CUDA), one pass over all parameters
    per step; rmsprop: RMSProp with torch's defaults (alpha 0.99, eps 1e-8, no momentum), the
    WGAN paper's choice with weight clipping."""
    params = [p for p in module.parameters() if p.requires_grad]
    if config.optimizer == "rmsprop":
        optimizer = torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-8, foreach=True)
    else:
        optimizer = torch.optim.Adam(params, lr=lr, betas=config.betas, fused=True)
    for group in optimizer.param_groups:  # the configured rate, which --lr-decay scales
        group[INITIAL_LR] = lr
    return optimizer


def set_learning_rates(state: TrainState) -> None:
    """Each optimiser's rate for the iteration state is at: its configured rate times
    --lr-decay's factor (a Python float: no host sync). Before every iteration's steps."""
    factor = state.config.lr_factor(state.iteration)
    for optimizer in (state.opt_g, state.opt_c):
        for group in optimizer.param_groups if optimizer is not None else ():
            group["lr"] = group[INITIAL_LR] * factor


def write_checkpoint(
    state: TrainState, run_dir: Path, corpus: str | Path, heldout: str | None = None
) -> Path:
    path = checkpoint_path(run_dir, state.iteration)
    try:
        save_checkpoint(path, checkpoint_of(state, corpus, heldout))
    except OSError as err:
        raise TextganError(f"cannot write checkpoint {path}: {err.strerror or err}") from err
    prune_checkpoints(run_dir, state.config.keep)
    return path


def checkpoint_of(state: TrainState, corpus: str | Path, heldout: str | None = None) -> Checkpoint:
    model_config = state.config.model_config(len(state.vocab))
    return Checkpoint(
        textgan_version=__version__,
        iteration=state.iteration,
        config=state.config.to_dict(),
        model=dataclasses.asdict(model_config),
        models={role: class_name(net) for role, net in _nets(state)},
        vocab=state.vocab.model_proto,
        corpus=str(corpus),
        heldout=heldout,
        seconds=state.seconds,
        generator=state.generator.state_dict(),
        generator_ema=None if state.generator_ema is None else state.generator_ema.state_dict(),
        critic=None if state.critic is None else state.critic.state_dict(),
        opt_g=state.opt_g.state_dict(),
        opt_c=None if state.opt_c is None else state.opt_c.state_dict(),
        rng={
            "noise": state.noise_rng.get_state(),
            "alpha": state.alpha_rng.get_state(),
            "sampler": state.sampler.state_dict(),
        },
    )


def restore_state(state: TrainState, saved: Checkpoint) -> None:
    model_config = dataclasses.asdict(state.config.model_config(len(state.vocab)))
    if saved.model != {k: model_config.get(k) for k in saved.model}:
        raise TextganError("the checkpoint's model does not match this corpus and configuration")
    check_classes(saved.models, dict(_nets(state)))
    for role, net in _nets(state):
        try:
            net.load_state_dict(saved[role])
        except RuntimeError as err:
            raise TextganError(f"the checkpoint's {role} weights do not fit this {role}") from err
    rates = (("generator", state.opt_g, saved.opt_g, state.config.generator_lr),
             ("critic", state.opt_c, saved.opt_c, state.config.critic_lr))  # fmt: skip
    changed = []
    for role, optimizer, saved_state, lr in rates:
        if optimizer is None:
            continue
        optimizer.load_state_dict(saved_state)
        for group in optimizer.param_groups:  # the configuration's rate, not the saved one
            saved_rate = group.get(INITIAL_LR, group["lr"])  # older checkpoints: no schedule
            if saved_rate != lr:
                changed.append(f"{role} {saved_rate:g} → {lr:g}")
            group[INITIAL_LR] = lr  # its "lr": set_learning_rates, below
        if isinstance(optimizer, torch.optim.Adam):  # a checkpoint's settings may predate fused
            for group in optimizer.param_groups:
                group["fused"], group["foreach"] = True, None
    state.rates_changed = ", ".join(dict.fromkeys(changed)) or None
    state.iteration = int(saved.iteration)
    state.seconds = float(saved.seconds)
    _restore_streams(state, saved.rng)
    set_learning_rates(state)


def _nets(state: TrainState) -> list[tuple[str, nn.Module]]:
    """The run's networks by role: the generator, and the critic when it has one."""
    nets = [("generator", state.generator), ("critic", state.critic)]
    return [(role, net) for role, net in nets if net is not None]


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
    """Refuse to resume with options that would change the run's model, data or objective."""
    _refuse_changes(saved.to_dict(), config.to_dict())


def resume_config(run_dir: str | Path, **overrides: Any) -> TrainConfig:
    """The saved config of a run, with the options that may change on resume overridden (the
    others, given, must equal the saved ones)."""
    saved = load_checkpoint(latest_checkpoint(Path(run_dir)))
    given = {k: v for k, v in overrides.items() if v is not None}
    saved_config = TrainConfig.from_dict(saved.config)
    if not saved_config.needs_critic and (refused := given.keys() & set(CRITIC_OPTIONS)):
        raise TextganError(critic_option_refusal(sorted(refused)[0], saved_config.loss))
    _refuse_changes(dataclasses.asdict(saved_config), given)  # typed as given: betas a tuple
    return TrainConfig.from_dict(saved.config | given)


def _refuse_changes(saved: dict[str, Any], new: dict[str, Any]) -> None:
    changed = [
        name
        for name, value in new.items()
        if name not in RESUMABLE_OPTIONS and name in saved and saved[name] != value
    ]
    if changed:
        flags = ", ".join("--" + name.replace("_", "-") for name in changed)
        raise TextganError(f"cannot resume with a different {flags} than the run was started with")

"""The one source of defaults: model and training configuration, and the presets."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgan.errors import TextganError
from textgan.objectives.losses import Objective
from textgan.objectives.penalty import GP_WEIGHT
from textgan.objectives.registry import CONSTRAINTS, LOSSES, parameter_fields
from textgan.runtime.device import (
    check_choice,
    check_conv,
    check_device_name,
    check_precision,
)

PRESETS: dict[str, dict[str, Any]] = {
    # The paper's gan_language.py.
    "paper": {"dim": 512, "critic_iters": 10, "iters": 200_000},
    # The best text per hour found on a 2-core CPU (README, Quality per hour): a narrower model,
    # 2 critic steps, a higher learning rate and the generator's average (js4 0.47 against 0.51
    # for the former 5 critic steps without the average, 60 minutes on a 2-core Zen 4, 2 seeds);
    # about 60,000 iterations is an hour there in bf16.
    "cpu": {"dim": 64, "critic_iters": 2, "lr": 3e-4, "g_ema": 0.999, "iters": 60_000},
}
# What each preset sets for a language model (--loss mle): its critic settings do not apply.
# Adam with the usual language-model betas; the gradients' norm is clipped at LM_MAX_GRAD_NORM.
LM_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"dim": 512, "lr": 1e-3, "betas": (0.9, 0.999), "iters": 200_000},
    # one step per iteration: many more iterations than a GAN's in the same minutes
    "cpu": {"dim": 256, "lr": 2e-3, "betas": (0.9, 0.999), "iters": 20_000},
}
LM_CHOICES = ("conv", "lstm")  # --lm: the causal conv stack (the default) or a 2-layer LSTM
LM_MAX_GRAD_NORM = 1.0  # a language model's gradients are clipped to this global norm
# the options that only a critic reads: refused with a loss that trains none, recorded as None
CRITIC_OPTIONS = ("constraint", "gp_weight", "clip", "critic_iters", "critic_norm", "lr_critic")
# the temperature a run's samples are drawn at unless one is given (0 = argmax), by run kind
TEMPERATURE_BY_KIND = {"gan": 0.0, "lm": 1.0}
PRESET_CHOICES = ("auto", "paper", "cpu")
SAMPLE_DEVICE = "cpu"  # where sample and eval generate: seeded samples are the same everywhere
OPTIMIZER_CHOICES = ("adam", "rmsprop")
LR_DECAY_CHOICES = ("none", "linear")  # --lr-decay: TrainConfig.lr_factor
CRITIC_NORM_CHOICES = ("none", "layer")
ENGINE_CHOICES = ("auto", "fused", "autograd")
MIN_VOCAB = 3  # pad, unk and one character
# the options a resumed run may change; the others must be the run's own
RESUMABLE_OPTIONS = (
    "iters", "checkpoint_every", "keep", "device", "precision", "conv", "engine", "eval_every",
    "eval_samples", "minutes", "tensorboard", "lr", "lr_critic", "lr_generator", "g_ema",
    "g_ema_start", "eval_temperature", "dist_timeout", "lr_decay",
)  # fmt: skip
LEARNING_RATES = ("lr", "lr_critic", "lr_generator")
PAPER_EVAL_LINES = 640  # the paper's 10 batches of 64: samples scored, floor and held-out lines
SWEEP_TEMPERATURES = (0.0, 0.5, 0.7, 0.85, 1.0)  # `textgan sweep`'s default decodings (0 = argmax)
# Seconds a process waits for another under torchrun: the others wait in a collective while rank 0
# evaluates and writes a checkpoint (seconds at the cpu preset, under a minute at the paper's on a
# loaded machine), so 5 minutes leaves room for a slow disk and a busy node, and ends a job whose
# process died or stopped 25 minutes before gloo's own 30-minute default would.
DIST_TIMEOUT = 300.0
RUNS_ROOT = Path("runs")  # where runs go, and where sample/eval/plot look for the newest


def _option(default: Any, help: str, shown: str | None = None) -> Any:
    """A TrainConfig field that is also a `textgan train` option, with its --help text (and the
    default --help shows, where it is not the field's own)."""
    metadata = {"help": help} if shown is None else {"help": help, "shown": shown}
    return field(default=default, metadata=metadata)


def _choices_help(what: str, table: dict[str, Any]) -> str:
    """--help's list of a registry's entries: `What: a (summary), b (summary) or c.`"""
    names = [f"{e.name} ({e.summary})" for e in table.values()]
    return f"{what} {', '.join(names[:-1])} or {names[-1]}." if len(names) > 1 else what


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; defaults are the paper's settings. Each field with a
    help text is a `textgan train` option of the same name (cli/app.py builds them from here)."""

    iters: int = _option(200_000, "Total iterations (1 generator step + critic steps each).")
    batch_size: int = _option(64, "Batch size per process (torchrun: × processes).")
    critic_iters: int | None = _option(10, "Critic steps per generator step.")
    dim: int = _option(512, "Channels of every conv.")
    n_blocks: int = _option(5, "Residual blocks per net.")
    seq_len: int = _option(32, "Characters per line.")
    noise_dim: int = 128
    lr: float = _option(1e-4, "Learning rate of both optimisers.")
    lr_critic: float | None = _option(None, "The critic's learning rate.", shown="--lr")
    lr_generator: float | None = _option(None, "The generator's learning rate.", shown="--lr")
    g_ema: float = _option(
        0.0, "Decay of an exponential moving average of the generator's weights, which "
        "evaluation, sample and eval then use (0 = off; e.g. 0.999)."
    )  # fmt: skip
    g_ema_start: int = _option(0, "Iteration from which the average averages (before: a copy).")
    lr_decay: str = _option(
        "none", "Learning-rate schedule: none, or linear (each rate falls linearly to 0 at "
        "--iters, as in the WGAN-GP paper's image models)."
    )  # fmt: skip
    betas: tuple[float, float] = _option(
        (0.5, 0.9), "Adam's β1 and β2, two numbers in [0, 1) (e.g. --betas 0 0.9).",
        shown="0.5 0.9; 0.9 0.999 with mle"
    )  # fmt: skip
    loss: str = _option("wasserstein", _choices_help("The loss:", LOSSES))
    lm: str | None = _option(
        None, "The language model of --loss mle: conv (the generator's conv stack made causal) "
        "or lstm (2 layers of --dim units).", shown="conv with mle"
    )  # fmt: skip
    constraint: str | None = _option(
        "gp", _choices_help("How the critic is kept Lipschitz:", CONSTRAINTS)
    )
    gp_weight: float | None = _option(
        None, "Penalty weight λ (gp and lp only).", shown=f"{GP_WEIGHT.default} with gp, lp"
    )
    clip: float | None = _option(
        None, "Clipping bound c (clip only).", shown=f"{CONSTRAINTS['clip'].parameter.default} "
        "with clip"
    )  # fmt: skip
    optimizer: str = _option("adam", "adam (with --betas) or rmsprop (alpha 0.99).")
    critic_norm: str | None = _option(
        "none", "Normalisation in the critic's blocks: none or layer."
    )
    engine: str = _option(
        "auto", "auto (fused where it runs the configuration), fused or autograd."
    )
    max_vocab: int = _option(2048, "Vocabulary size incl. pad and unk.")
    checkpoint_every: int = _option(500, "Iterations between checkpoints.")
    keep: int = _option(3, "Newest checkpoints kept.")
    eval_every: int = _option(100, "Iterations between evaluations (0 = off).")
    eval_samples: int = _option(PAPER_EVAL_LINES, "Samples per evaluation.")
    eval_temperature: float | None = _option(
        None, "Temperature of the evaluated samples (0 = argmax).",
        shown="by run kind: 1 with mle, 0 for a GAN"
    )  # fmt: skip
    holdout: int = _option(PAPER_EVAL_LINES, "Lines set aside without held-out text.")
    max_lines: int | None = _option(None, "Use only the first N lines of CORPUS.")
    device: str = _option("auto", "auto, cpu or cuda.")
    precision: str = _option(
        "auto", "auto (bf16 where fast, else fp32), fp32 (IEEE), tf32 (TF32 on CUDA) or bf16."
    )
    conv: str = _option("auto", "auto (the faster here), im2col, native or winograd convolutions.")
    seed: int = _option(0, "Random seed.")
    minutes: float | None = _option(
        None, "Stop after the first iteration past this many minutes of training (earlier "
        "processes' time included on --resume); then evaluate and checkpoint.", shown="no limit"
    )  # fmt: skip
    dist_timeout: float = _option(
        DIST_TIMEOUT, "Under torchrun: seconds a process waits for another (one that failed, died "
        "or stopped answering) before the job stops."
    )  # fmt: skip
    tensorboard: bool = _option(
        False, "Also log to TensorBoard in RUN/tb/ (needs: pip install \"textgan[tensorboard]\").",
        shown="off"
    )  # fmt: skip

    def __post_init__(self) -> None:
        for name in ("iters", "batch_size", "dim", "n_blocks", "seq_len"):
            _require_positive(name, getattr(self, name))
        for name in ("noise_dim", "checkpoint_every", "keep", "eval_samples", "holdout"):
            _require_positive(name, getattr(self, name))
        if self.max_lines is not None:  # None: every line of the corpus
            _require_positive("max_lines", self.max_lines)
        if not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise TextganError(f"--eval-every must be >= 0, got {self.eval_every}")
        for name in ("lr", "lr_critic", "lr_generator"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value > 0
                                          and math.isfinite(value)):  # fmt: skip
                raise TextganError(f"--{name.replace('_', '-')} must be positive, got {value}")
        _check_betas(self.betas)
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))  # JSON: a list
        if not (isinstance(self.g_ema, int | float) and 0 <= self.g_ema < 1):
            raise TextganError(f"--g-ema must be 0 (off) or between 0 and 1, got {self.g_ema}")
        if not isinstance(self.g_ema_start, int) or self.g_ema_start < 0:
            raise TextganError(f"--g-ema-start must be an iteration >= 0, got {self.g_ema_start}")
        if self.minutes is not None and not (math.isfinite(self.minutes) and self.minutes > 0):
            raise TextganError(f"--minutes must be finite and positive, got {self.minutes}")
        temperature = self.eval_temperature
        if temperature is not None and not (math.isfinite(temperature) and temperature >= 0):
            raise TextganError(f"--eval-temperature must be finite and >= 0, got {temperature}")
        if not (isinstance(self.dist_timeout, int | float) and math.isfinite(self.dist_timeout)
                and self.dist_timeout > 0):  # fmt: skip
            raise TextganError(f"--dist-timeout must be positive seconds, got {self.dist_timeout}")
        self._check_objective()
        check_vocab_size(self.max_vocab)
        check_device_name(self.device)
        check_precision(self.precision)
        check_conv(self.conv, self.seq_len)

    def _check_objective(self) -> None:
        """Choices exist (--loss and --constraint: in the registry), and each constraint
        parameter (--gp-weight, --clip) is given only with a constraint that reads it (whose
        default then fills it in); a loss without a critic: _check_language_model."""
        for name, choices in (("optimizer", OPTIMIZER_CHOICES), ("engine", ENGINE_CHOICES),
                              ("lr_decay", LR_DECAY_CHOICES)):  # fmt: skip
            check_choice(name, getattr(self, name), choices)
        check_choice("loss", self.loss, tuple(LOSSES))
        if not self.needs_critic:
            self._check_language_model()
            return
        if self.lm is not None:
            raise TextganError(f"--lm applies only to --loss {' or '.join(lm_losses())}, not "
                               f"{self.loss}")  # fmt: skip
        for name in ("critic_iters", "constraint", "critic_norm"):  # None: the default
            if getattr(self, name) is None:
                object.__setattr__(self, name, _default(name))
        _require_positive("critic_iters", self.critic_iters)
        check_choice("critic_norm", self.critic_norm, CRITIC_NORM_CHOICES)
        check_choice("constraint", self.constraint, tuple(CONSTRAINTS))
        parameter = CONSTRAINTS[self.constraint].parameter
        for name in sorted(parameter_fields()):
            if getattr(self, name) is None or (parameter is not None and parameter.field == name):
                continue
            readers = [c.name for c in CONSTRAINTS.values()
                       if c.parameter is not None and c.parameter.field == name]  # fmt: skip
            raise TextganError(f"--{name.replace('_', '-')} applies only to --constraint "
                               f"{' or '.join(readers)}, not {self.constraint}")  # fmt: skip
        if parameter is not None:  # Objective checks the value and knows the default
            object.__setattr__(self, parameter.field, self.objective().weight)  # frozen: once

    def _check_language_model(self) -> None:
        """A loss without a critic: the critic's options, unset or at their defaults (which do
        not apply), become None; --engine fused (GAN steps only) is refused; --lm defaults to
        conv."""
        for name in CRITIC_OPTIONS:
            value = getattr(self, name)
            if value is not None and value != _default(name):
                raise TextganError(critic_option_refusal(name, self.loss))
            object.__setattr__(self, name, None)
        if self.engine == "fused":
            raise TextganError(critic_option_refusal("engine", self.loss))
        check_choice("lm", LM_CHOICES[0] if self.lm is None else self.lm, LM_CHOICES)
        object.__setattr__(self, "lm", LM_CHOICES[0] if self.lm is None else self.lm)

    @property
    def run_kind(self) -> str:
        """The run's kind: gan for a run that trains a critic, lm for a language model."""
        return "gan" if self.needs_critic else "lm"

    def decoding_temperature(self, given: float | None = None) -> float:
        """The temperature this run's samples are drawn at: given (by --temperature or
        --eval-temperature), else its kind's (TEMPERATURE_BY_KIND: an LM's softmax as trained,
        a GAN's argmax)."""
        return TEMPERATURE_BY_KIND[self.run_kind] if given is None else given

    def objective(self) -> Objective:
        """The run's loss and constraint, with the constraint's number (λ, c) if it has one."""
        parameter = CONSTRAINTS[self.constraint].parameter
        weight = None if parameter is None else getattr(self, parameter.field)
        return Objective(self.loss, self.constraint, weight)

    @property
    def critic_lr(self) -> float:
        """The critic's learning rate: --lr-critic, else --lr."""
        return self.lr if self.lr_critic is None else self.lr_critic

    @property
    def generator_lr(self) -> float:
        """The generator's learning rate: --lr-generator, else --lr."""
        return self.lr if self.lr_generator is None else self.lr_generator

    def lr_factor(self, iteration: int) -> float:
        """What --lr-decay multiplies the learning rates by at an iteration: 1 with none; with
        linear, 1 − iteration/iters (1 at the start, 1/iters at the last iteration)."""
        if self.lr_decay == "none":
            return 1.0
        return max(0.0, 1.0 - iteration / self.iters)

    @property
    def needs_critic(self) -> bool:
        """Whether the run trains a critic (its loss's registry entry says)."""
        return LOSSES[self.loss].needs_critic

    def model_config(self, vocab_size: int) -> ModelConfig:
        norm = _default("critic_norm") if self.critic_norm is None else self.critic_norm
        return ModelConfig(vocab_size=vocab_size, seq_len=self.seq_len, dim=self.dim,
                           n_blocks=self.n_blocks, noise_dim=self.noise_dim,
                           critic_norm=norm)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)


def _check_betas(betas: Any) -> None:
    """Adam's betas: two finite numbers, each in [0, 1)."""
    try:
        b1, b2 = (float(b) for b in betas)
    except (TypeError, ValueError):
        raise TextganError(f"--betas takes two numbers in [0, 1), got {betas!r}") from None
    if not all(0 <= b < 1 for b in (b1, b2)):  # NaN fails too
        raise TextganError(f"--betas must each be in [0, 1), got {b1:g} {b2:g}")


def lm_losses() -> list[str]:
    """The losses that train a language model (no critic): --loss mle."""
    return [name for name, loss in LOSSES.items() if not loss.needs_critic]


def critic_option_refusal(name: str, loss: str) -> str:
    """Why a critic's option is refused with a loss that trains no critic."""
    flag = "--engine fused" if name == "engine" else "--" + name.replace("_", "-")
    return f"{flag} does not apply to --loss {loss}, which trains no critic"


def parameter_applies(name: str, constraint: str) -> bool:
    """Whether a constraint parameter's field (gp_weight, clip) applies to a constraint (one
    not registered: no)."""
    entry = CONSTRAINTS.get(constraint)
    return entry is not None and entry.parameter is not None and entry.parameter.field == name


def _default(name: str) -> Any:
    """TrainConfig's default of a field: what ModelConfig's defaults repeat by reference."""
    return TrainConfig.__dataclass_fields__[name].default


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the generator and critic (defaults: TrainConfig's, the paper's values)."""

    vocab_size: int
    seq_len: int = _default("seq_len")
    dim: int = _default("dim")
    n_blocks: int = _default("n_blocks")
    noise_dim: int = _default("noise_dim")
    critic_norm: str = _default("critic_norm")  # CRITIC_NORM_CHOICES: the critic's blocks' norm

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "dim", "n_blocks", "noise_dim"):
            _require_positive(name, getattr(self, name))
        check_choice("critic_norm", self.critic_norm, CRITIC_NORM_CHOICES)


def check_vocab_size(max_vocab: int) -> None:
    """A vocabulary holds pad, unk and at least one character."""
    if not isinstance(max_vocab, int) or max_vocab < MIN_VOCAB:
        raise TextganError(f"--max-vocab must be at least {MIN_VOCAB} (pad, unk, one "
                           f"character), got {max_vocab}")  # fmt: skip


def resolve_config(preset: str, device_type: str, **overrides: Any) -> TrainConfig:
    """The config of a run: a preset's values, then every override that is not None.

    `auto` is `paper` on CUDA and `cpu` otherwise.
    """
    if preset not in PRESET_CHOICES:
        raise TextganError(f"--preset must be one of {', '.join(PRESET_CHOICES)}, got {preset!r}")
    if preset == "auto":
        preset = "paper" if device_type == "cuda" else "cpu"
    values = dict(PRESETS[preset])
    given = {k: v for k, v in overrides.items() if v is not None}
    loss = given.get("loss", _default("loss"))
    if loss in LOSSES and not LOSSES[loss].needs_critic:  # a preset's critic settings drop out
        refused = [k for k in CRITIC_OPTIONS if k in given]
        refused += ["engine"] if given.get("engine") == "fused" else []
        if refused:
            raise TextganError(critic_option_refusal(refused[0], loss))
        values = dict(LM_PRESETS[preset])
    if "lr" in given:
        if {"lr_critic", "lr_generator"} <= given.keys():
            raise TextganError("--lr sets both learning rates: give it, or --lr-critic and "
                               "--lr-generator, not all three")  # fmt: skip
        for name in ("lr_critic", "lr_generator"):  # a given --lr overrides a preset's rates
            values.pop(name, None)
    if "betas" in given and given.get("optimizer") == "rmsprop":
        raise TextganError("--betas applies only to --optimizer adam, not rmsprop")
    values.update(given)
    return TrainConfig(**values)


def _require_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value <= 0:
        flag = "--" + name.replace("_", "-")
        raise TextganError(f"{flag} must be a positive integer, got {value}")

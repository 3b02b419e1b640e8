"""The one source of defaults: model and training configuration, and the presets."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgan.errors import TextganError

PRESETS: dict[str, dict[str, Any]] = {
    # The paper's gan_language.py.
    "paper": {"dim": 512, "critic_iters": 10, "iters": 200_000},
    # Sized to learn visibly within an hour on a 2-core CPU (1.4 iterations/s in fp32 on a Zen 3
    # without bf16; 6 in bf16 on an AMX Xeon; 4.5 in bf16 on a Zen 4): a narrower model, the 5
    # critic steps the paper calls enough, and a higher learning rate.
    "cpu": {"dim": 64, "critic_iters": 5, "lr": 3e-4, "iters": 5_000},
}
PRESET_CHOICES = ("auto", "paper", "cpu")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
SAMPLE_DEVICE = "cpu"  # where sample and eval generate: seeded samples are the same everywhere
PRECISION_CHOICES = ("auto", "fp32", "tf32", "bf16")
CONV_CHOICES = ("auto", "im2col", "native", "winograd")
LOSS_CHOICES = ("wasserstein", "gan", "hinge")
CONSTRAINT_CHOICES = ("gp", "lp", "clip", "sn", "none")
PENALTY_CONSTRAINTS = ("gp", "lp")  # the constraints that are a penalty weighted by --gp-weight
OPTIMIZER_CHOICES = ("adam", "rmsprop")
CRITIC_NORM_CHOICES = ("none", "layer")
ENGINE_CHOICES = ("auto", "fused", "autograd")
DEFAULT_GP_WEIGHT = 10.0  # λ, the paper's
DEFAULT_CLIP = 0.01  # the WGAN paper's clipping bound
WINOGRAD_TILE = 4  # outputs per tile of --conv winograd: --seq-len must be a multiple
PAPER_EVAL_LINES = 640  # the paper's 10 batches of 64: samples scored, floor and held-out lines
SWEEP_TEMPERATURES = (0.0, 0.5, 0.7, 0.85, 1.0)  # `textgan sweep`'s default decodings (0 = argmax)
RUNS_ROOT = Path("runs")  # where runs go, and where sample/eval/plot look for the newest


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the generator and critic (the paper's values are the defaults)."""

    vocab_size: int
    seq_len: int = 32
    dim: int = 512
    n_blocks: int = 5
    noise_dim: int = 128
    critic_norm: str = "none"  # CRITIC_NORM_CHOICES: normalisation in the critic's blocks

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "dim", "n_blocks", "noise_dim"):
            _require_positive(name, getattr(self, name))
        _require_choice("critic_norm", self.critic_norm, CRITIC_NORM_CHOICES)


def _option(default: Any, help: str, shown: str | None = None) -> Any:
    """A TrainConfig field that is also a `textgan train` option, with its --help text (and the
    default --help shows, where it is not the field's own)."""
    metadata = {"help": help} if shown is None else {"help": help, "shown": shown}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; defaults are the paper's settings. Each field with a
    help text is a `textgan train` option of the same name (cli/app.py builds them from here)."""

    iters: int = _option(200_000, "Total iterations (1 generator step + critic steps each).")
    batch_size: int = _option(64, "Batch size per process (torchrun: × processes).")
    critic_iters: int = _option(10, "Critic steps per generator step.")
    dim: int = _option(512, "Channels of every conv.")
    n_blocks: int = _option(5, "Residual blocks per net.")
    seq_len: int = _option(32, "Characters per line.")
    noise_dim: int = 128
    lr: float = _option(1e-4, "Learning rate of both optimisers.")
    betas: tuple[float, float] = (0.5, 0.9)
    loss: str = _option("wasserstein", "wasserstein, gan (non-saturating) or hinge.")
    constraint: str = _option(
        "gp", "How the critic is kept Lipschitz: gp (two-sided penalty), lp (one-sided), "
        "clip (weight clipping), sn (spectral norm) or none."
    )  # fmt: skip
    gp_weight: float | None = _option(
        None, "Penalty weight λ (gp and lp only).", shown=f"{DEFAULT_GP_WEIGHT} with gp, lp"
    )
    clip: float | None = _option(
        None, "Clipping bound c (clip only).", shown=f"{DEFAULT_CLIP} with clip"
    )
    optimizer: str = _option("adam", "adam (betas 0.5, 0.9) or rmsprop (alpha 0.99).")
    critic_norm: str = _option("none", "Normalisation in the critic's blocks: none or layer.")
    engine: str = _option(
        "auto", "auto (fused where it runs the configuration), fused or autograd."
    )
    max_vocab: int = _option(2048, "Vocabulary size incl. pad and unk.")
    checkpoint_every: int = _option(500, "Iterations between checkpoints.")
    keep: int = _option(3, "Newest checkpoints kept.")
    eval_every: int = _option(100, "Iterations between evaluations (0 = off).")
    eval_samples: int = _option(PAPER_EVAL_LINES, "Samples per evaluation.")
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

    def __post_init__(self) -> None:
        for name in ("iters", "batch_size", "critic_iters", "dim", "n_blocks", "seq_len"):
            _require_positive(name, getattr(self, name))
        for name in ("noise_dim", "checkpoint_every", "keep", "eval_samples", "holdout"):
            _require_positive(name, getattr(self, name))
        if self.max_lines is not None:  # None: every line of the corpus
            _require_positive("max_lines", self.max_lines)
        if not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise TextganError(f"--eval-every must be >= 0, got {self.eval_every}")
        if not self.lr > 0:
            raise TextganError(f"--lr must be positive, got {self.lr}")
        if self.minutes is not None and not (math.isfinite(self.minutes) and self.minutes > 0):
            raise TextganError(f"--minutes must be finite and positive, got {self.minutes}")
        self._check_objective()
        if self.max_vocab < 3:
            raise TextganError(
                f"--max-vocab must be at least 3 (pad, unk, one character), got {self.max_vocab}"
            )
        if self.device not in DEVICE_CHOICES and not self.device.startswith("cuda:"):
            raise TextganError(
                f"--device must be one of {', '.join(DEVICE_CHOICES)}, got {self.device!r}"
            )
        _require_choice("precision", self.precision, PRECISION_CHOICES)
        _require_choice("conv", self.conv, CONV_CHOICES)
        if self.conv == "winograd" and self.seq_len % WINOGRAD_TILE:
            raise TextganError(
                f"--conv winograd computes tiles of {WINOGRAD_TILE} positions: --seq-len must "
                f"be a multiple of {WINOGRAD_TILE}, got {self.seq_len}"
            )

    def _check_objective(self) -> None:
        """Choices exist, and --gp-weight and --clip are given only where they apply (then
        their defaults fill in)."""
        for name, choices in (("loss", LOSS_CHOICES), ("constraint", CONSTRAINT_CHOICES),
                              ("optimizer", OPTIMIZER_CHOICES), ("engine", ENGINE_CHOICES),
                              ("critic_norm", CRITIC_NORM_CHOICES)):  # fmt: skip
            _require_choice(name, getattr(self, name), choices)
        for name, constraints, default in (("gp_weight", PENALTY_CONSTRAINTS, DEFAULT_GP_WEIGHT),
                                           ("clip", ("clip",), DEFAULT_CLIP)):  # fmt: skip
            flag, value = "--" + name.replace("_", "-"), getattr(self, name)
            if self.constraint not in constraints:
                if value is not None:
                    raise TextganError(
                        f"{flag} applies only to --constraint "
                        f"{' or '.join(constraints)}, not {self.constraint}"
                    )
                continue
            if value is None:
                object.__setattr__(self, name, default)  # frozen: filled in once, here
            elif not math.isfinite(value) or value < 0 or (name == "clip" and value == 0):
                bound = ">= 0" if name == "gp_weight" else "positive"
                raise TextganError(f"{flag} must be finite and {bound}, got {value}")

    def model_config(self, vocab_size: int) -> ModelConfig:
        return ModelConfig(vocab_size, self.seq_len, self.dim, self.n_blocks, self.noise_dim,
                           self.critic_norm)  # fmt: skip

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


def resolve_config(preset: str, device_type: str, **overrides: Any) -> TrainConfig:
    """The config of a run: a preset's values, then every override that is not None.

    `auto` is `paper` on CUDA and `cpu` otherwise.
    """
    if preset not in PRESET_CHOICES:
        raise TextganError(f"--preset must be one of {', '.join(PRESET_CHOICES)}, got {preset!r}")
    if preset == "auto":
        preset = "paper" if device_type == "cuda" else "cpu"
    values = dict(PRESETS[preset])
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)


def _require_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        flag = "--" + name.replace("_", "-")
        raise TextganError(f"{flag} must be one of {', '.join(choices)}, got {value!r}")


def _require_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value <= 0:
        flag = "--" + name.replace("_", "-")
        raise TextganError(f"{flag} must be a positive integer, got {value}")

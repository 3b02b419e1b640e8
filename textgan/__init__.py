"""textgan: character-level Wasserstein GANs with gradient penalty (WGAN-GP) for text."""

__version__ = "0.1.0"

from textgan.config import ModelConfig, TrainConfig, resolve_config
from textgan.data.vocab import Vocab, train_vocab
from textgan.errors import TextganError
from textgan.evaluation.sampling import sample
from textgan.models.resnet import Critic, Generator
from textgan.objectives.losses import critic_loss, generator_loss
from textgan.objectives.penalty import gradient_penalty, interpolate
from textgan.rundir.checkpoint import load_checkpoint
from textgan.training.loop import StepStats, TrainResult, train

__all__ = [
    "Critic",
    "Generator",
    "ModelConfig",
    "StepStats",
    "TextganError",
    "TrainConfig",
    "TrainResult",
    "Vocab",
    "__version__",
    "critic_loss",
    "generator_loss",
    "gradient_penalty",
    "interpolate",
    "load_checkpoint",
    "resolve_config",
    "sample",
    "train",
    "train_vocab",
]

"""textgan: character-level Wasserstein GANs with gradient penalty (WGAN-GP) for text."""

__version__ = "0.1.0"

from textgan.checkpoint import load_checkpoint
from textgan.config import ModelConfig, TrainConfig, resolve_config
from textgan.errors import TextganError
from textgan.losses import critic_loss, generator_loss, gradient_penalty, interpolate
from textgan.model import Critic, Generator
from textgan.sample import sample
from textgan.train import StepStats, TrainResult, train
from textgan.vocab import Vocab, train_vocab

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

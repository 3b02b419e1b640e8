"""A run's generator and critic: the built-in conv ResNets, or modules (or factories of modules)
a caller passes in; the critic wrapped as its constraint says (--constraint sn: spectrally
normalised)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from textgan.config import ModelConfig, TrainConfig
from textgan.errors import TextganError
from textgan.models.language import LANGUAGE_MODELS, build_language_model
from textgan.models.resnet import Critic, Generator, build_models
from textgan.runtime.streams import seed_of

ModelSpec = nn.Module | Callable[[ModelConfig], nn.Module] | None  # None: the built-in model


def run_models(
    config: TrainConfig, model: ModelConfig, generator: ModelSpec = None, critic: ModelSpec = None
) -> tuple[nn.Module, nn.Module | None]:
    """The generator and critic of a run. A given one is a module, or a callable that makes one
    from the run's ModelConfig (its vocab_size is known only once the corpus is read). A
    generator maps noise (B, noise_dim) to per-position probabilities (B, L, V) and has an int
    attribute noise_dim; a critic maps (B, L, V) to scores (B,). A run without a critic
    (--loss mle) has a language model as its generator (models/language.py) and critic None."""
    if not config.needs_critic:
        if critic is not None:
            raise TextganError(f"--loss {config.loss} trains no critic: pass no critic model")
        if generator is None:
            return build_language_model(config.lm, model, seed_of(config.seed, "weights")), None
        return _resolve(generator, model, "language model"), None
    if generator is None or critic is None:
        built_generator, built_critic = build_models(model, seed_of(config.seed, "weights"))
    generator = built_generator if generator is None else _resolve(generator, model, "generator")
    critic = built_critic if critic is None else _resolve(critic, model, "critic")
    if not isinstance(getattr(generator, "noise_dim", None), int):
        raise TextganError(f"the generator ({class_name(generator)}) needs an int attribute "
                           "noise_dim: the size of the noise it maps to text")  # fmt: skip
    wrap = config.objective().constraint_entry.wrap  # e.g. spectral normalisation
    if wrap is not None:
        critic = wrap(critic, config.seed)
    return generator, critic


def class_name(module: nn.Module) -> str:
    """module.Class of a model, as checkpoints record it (and never import it)."""
    return _qualified(type(module))


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


BUILTIN_MODELS = {"generator": _qualified(Generator), "critic": _qualified(Critic)}
BUILTIN_LANGUAGE_MODELS = {name: _qualified(cls) for name, cls in LANGUAGE_MODELS.items()}


def check_classes(saved: dict[str, str], nets: dict[str, nn.Module]) -> None:
    """Refuse to restore a checkpoint's weights into models of other classes than it holds
    (nets: by role, as saved)."""
    for role, module in nets.items():
        if saved[role] != class_name(module):
            how = ("pass the same model classes to textgan.train or textgan.sample"
                   if is_custom(saved[role]) else "train without custom models")  # fmt: skip
            raise TextganError(f"the checkpoint's {role} is a {saved[role]}, not a "
                               f"{class_name(module)}: {how}")  # fmt: skip


def is_custom(name: str) -> bool:
    """Whether a recorded class name is a caller's model rather than a built-in one."""
    return name not in (*BUILTIN_MODELS.values(), *BUILTIN_LANGUAGE_MODELS.values())


def _resolve(spec: ModelSpec, model: ModelConfig, role: str) -> nn.Module:
    module = spec if isinstance(spec, nn.Module) else spec(model)
    if not isinstance(module, nn.Module):
        raise TextganError(f"the {role} must be a torch.nn.Module (or make one), got "
                           f"{type(module).__name__}")  # fmt: skip
    return module

"""Generate text from a trained generator: argmax or temperature decoding."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from textgan.config import SAMPLE_DEVICE, ModelConfig, TrainConfig
from textgan.data.vocab import Vocab
from textgan.errors import TextganError
from textgan.evaluation.ancestral import ancestral_ids, sampling_rng
from textgan.models.build import ModelSpec, class_name, is_custom
from textgan.models.language import build_language_model
from textgan.models.resnet import Generator
from textgan.rundir.checkpoint import latest_checkpoint, load_checkpoint
from textgan.rundir.schema import Checkpoint

CHUNK = 256  # samples per forward pass


def load_generator(
    checkpoint: Checkpoint,
    device: torch.device | str = SAMPLE_DEVICE,
    generator: ModelSpec = None,
    raw: bool = False,
) -> tuple[nn.Module, Vocab]:
    """The generator and vocabulary stored in a loaded checkpoint, the generator on device (the
    checkpoint's other tensors, the optimisers' state included, stay where they were loaded):
    the average of its weights when the run kept one (--g-ema), unless raw. A run of a custom
    generator needs one of its class passed in (a module, or a factory of one from the
    ModelConfig). A language model's run (--loss mle) holds its language model as generator."""
    config = ModelConfig(**checkpoint.model)
    run = TrainConfig.from_dict(checkpoint.config)
    saved_class = checkpoint.models["generator"]
    if generator is None and is_custom(saved_class):
        raise TextganError(
            f"this run's generator is a custom model ({saved_class}): sample it from Python, "
            "textgan.sample(CHECKPOINT, n, generator=YourGenerator(...))"
        )
    if generator is None:  # the built-in model of the run's kind (its weights come next)
        generator = Generator(config) if run.needs_critic else build_language_model(run.lm, config)
    module = generator if isinstance(generator, nn.Module) else generator(config)
    if class_name(module) != saved_class:
        raise TextganError(f"the checkpoint's generator is a {saved_class}, not a "
                           f"{class_name(module)}")  # fmt: skip
    try:
        average = checkpoint.generator_ema
        module.load_state_dict(checkpoint.generator if raw or average is None else average)
    except RuntimeError as err:
        raise TextganError("the checkpoint's generator weights do not match its model") from err
    return module.to(device).eval(), Vocab(checkpoint.vocab)


@torch.no_grad()
def generate_ids(
    generator: nn.Module,
    n: int,
    seed: int | None = None,
    temperature: float = 0.0,
) -> torch.Tensor:
    """(n, L) generated ids: argmax of the softmax (temperature 0) or a draw at a temperature.
    The generator runs in eval mode (and is put back in the mode it was in)."""
    device = next(generator.parameters()).device
    rng = sampling_rng(device, n, temperature, seed)
    chunks, training = [], generator.training
    generator.eval()
    for start in range(0, n, CHUNK):
        z = torch.randn(min(CHUNK, n - start), generator.noise_dim, generator=rng, device=device)
        chunks.append(_decode_logits(_logits(generator, z), temperature, rng))
    generator.train(training)
    return torch.cat(chunks).cpu()


def _logits(generator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """(b, L, V) fp32 logits: the built-in generator's own, else the log of its probabilities
    (the same softmax and argmax)."""
    if isinstance(generator, Generator):
        return generator.logits(z).float()
    return generator(z).float().clamp_min(torch.finfo(torch.float32).tiny).log()


def _decode_logits(logits: torch.Tensor, temperature: float, rng: torch.Generator) -> torch.Tensor:
    if temperature == 0:
        return logits.argmax(dim=-1)  # (b, L)
    probs = torch.softmax(logits / temperature, dim=-1).flatten(0, 1)  # (b·L, V)
    draws = torch.multinomial(probs, 1, generator=rng)  # (b·L, 1)
    return draws.view(logits.shape[:2])


def sample(
    checkpoint: str | Path | Checkpoint,
    n: int = 20,
    seed: int | None = None,
    temperature: float | None = None,
    device: torch.device | str = SAMPLE_DEVICE,
    generator: ModelSpec = None,
    raw: bool = False,
) -> list[str]:
    """n decoded lines from a checkpoint (a path, a run dir, or a loaded checkpoint), generated
    on device by the average of the generator's weights where the run kept one (--g-ema),
    unless raw; a run of a custom generator needs one of its class (or a factory) as generator.
    A checkpoint file is loaded on the CPU and only the generator moves to device. A language
    model's run samples ancestrally; temperature None: the run kind's (1 for a language model,
    0, the argmax, for a GAN: TrainConfig.decoding_temperature)."""
    if not isinstance(checkpoint, Checkpoint):
        path = Path(checkpoint)
        checkpoint = load_checkpoint(latest_checkpoint(path) if path.is_dir() else path)
    generator, vocab = load_generator(checkpoint, device, generator, raw=raw)
    run = TrainConfig.from_dict(checkpoint.config)
    temperature = run.decoding_temperature(temperature)
    if run.needs_critic:
        ids = generate_ids(generator, n, seed, temperature)
    else:
        ids = ancestral_ids(generator, n, run.seq_len, seed, temperature)
    return [vocab.decode(row) for row in ids.tolist()]

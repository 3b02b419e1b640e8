"""A run's random streams (noise, interpolation α, data order) set back from a checkpoint.

A torch.Generator's state has its device type's format: a CPU generator's is the Mersenne
Twister's 5,056 bytes, a CUDA generator's the 16 bytes of Philox's seed and offset. A run saved
on one device type and resumed on the other cannot set those states, so each stream whose saved
state does not fit its generator is re-seeded from (seed, iteration, stream) instead: the resumed
run then draws other numbers than an uninterrupted one would, but the same ones every time it is
resumed that way. On the same device type every state fits and resume is exact.
"""

from __future__ import annotations

import hashlib

import torch

from textgan.errors import TextganError

# Every random stream of a run is seeded by the run's --seed plus its offset here (streams with
# the same offset use different kinds of generator, so none draws another's numbers). Changing an
# offset changes every run's numbers: old checkpoints still resume (they save the states), but a
# fresh run would no longer repeat an earlier one.
SEED_OFFSETS = {
    "weights": 0,  # the models' initial weights (a CPU torch.Generator)
    "data order": 0,  # the batch sampler's shuffles (a CPU torch.Generator of its own)
    "held-out lines": 0,  # the lines set aside without a held-out file (numpy)
    "noise": 1,  # the generator's noise (a torch.Generator on the run's device)
    "interpolation": 2,  # the penalty's α (a torch.Generator on the run's device)
    "critic's lines": 3,  # the training lines the critic is scored on at evaluations (numpy)
}


def seed_of(seed: int, stream: str) -> int:
    """The seed of one of a run's random streams (SEED_OFFSETS)."""
    return seed + SEED_OFFSETS[stream]


# bytes of a generator's state by device type; CUDA's is CUDAGeneratorImpl::get_state's seed and
# offset (8 bytes each), fixed here so that it is known on machines without CUDA
STATE_BYTES = {"cpu": torch.Generator().get_state().numel(), "cuda": 16}


def saved_device_type(saved: object) -> str | None:
    """The device type whose generators have the format of a saved state (None: no known one)."""
    if not isinstance(saved, torch.Tensor) or saved.dtype != torch.uint8 or saved.dim() != 1:
        return None
    return next((kind for kind, size in STATE_BYTES.items() if saved.numel() == size), None)


def stream_seed(seed: int, iteration: int, stream: str) -> int:
    """A 63-bit seed for a re-seeded stream: the same for the same run seed, iteration and
    stream, and unrelated between streams."""
    key = f"{seed}/{iteration}/{stream}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


def restore_generator(
    generator: torch.Generator, saved: object, stream: str, seed: int, iteration: int
) -> str | None:
    """Set generator to its saved state; when that state has another device type's format,
    seed it with stream_seed(seed, iteration, stream) instead.

    Returns the device type the state was saved on when the generator was re-seeded, else None.
    """
    current = generator.get_state()
    if isinstance(saved, torch.Tensor) and (saved.dtype, saved.shape) == (
        current.dtype,
        current.shape,
    ):
        generator.set_state(saved)
        return None
    saved_on = saved_device_type(saved)
    if saved_on is None:
        raise TextganError(f"the checkpoint's {stream} random state is damaged")
    generator.manual_seed(stream_seed(seed, iteration, stream))
    return saved_on

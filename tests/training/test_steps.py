"""A training step stays on its device: after a warm-up, a critic step and a generator step make
every tensor on the run's device and read nothing back to the host, whatever the engine
(make_engine picks it from the config), its convolutions and the objective."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._device import _device_constructors
from torch.utils._pytree import tree_leaves

from textgan.config import TrainConfig
from textgan.runtime.device import CONV_IMPLS
from textgan.training.state import TrainState, build_state
from textgan.training.steps import (
    critic_step,
    generate_fakes,
    generator_step,
    make_engine,
    train_iteration,
)

TINY = dict(dim=16, n_blocks=2, seq_len=12, batch_size=8, critic_iters=2, eval_every=0)
Tensor = torch.Tensor

# calls that read a tensor's values on the host: on CUDA each waits for the device
HOST_READS = {
    Tensor.item, Tensor.tolist, Tensor.cpu, Tensor.numpy, Tensor.__array__, Tensor.__bool__,
    Tensor.__float__, Tensor.__int__, Tensor.__index__, Tensor.__complex__,
}  # fmt: skip
# calls whose output size depends on the values: on CUDA each waits for the device to count
DATA_DEPENDENT = {
    torch.nonzero, Tensor.nonzero, torch.argwhere, Tensor.argwhere, torch.masked_select,
    Tensor.masked_select, torch.unique, Tensor.unique, torch.unique_consecutive,
    Tensor.unique_consecutive, torch.repeat_interleave, Tensor.repeat_interleave,
}  # fmt: skip
HOST_DATA = {torch.tensor, torch.as_tensor, torch.asarray, torch.from_numpy}
MOVES = {Tensor.to, Tensor.cuda, Tensor.pin_memory}
INDEXING = {Tensor.__getitem__, Tensor.__setitem__, Tensor.index_put_, Tensor.index_put}


class HostTransfers(TorchFunctionMode):
    """Records each torch call inside the block that moves data between the host and the device
    or waits for the device: a host read (.item(), .cpu(), .tolist(), bool(t), ...), a tensor
    made from host data (torch.tensor), a factory without an explicit device (torch.zeros(1)
    makes a CPU tensor whatever the run's device), a .to()/.cuda() to a device, a tensor
    argument on another device, a boolean-mask index or another op whose output size depends
    on the values. On a CPU run these are the calls that would cross to or from a GPU."""

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.device = torch.empty(0, device=device).device  # cuda → cuda:0, as tensors say
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None) -> Any:
        kwargs = kwargs or {}
        problem = self._problem(func, args, kwargs)
        if problem is not None:
            self.calls.append(f"{getattr(func, '__qualname__', func)}: {problem}")
        return func(*args, **kwargs)

    def _problem(self, func, args: tuple, kwargs: dict) -> str | None:
        if func in HOST_READS:
            return "reads values on the host"
        if func in DATA_DEPENDENT:
            return "its output size depends on the values"
        if func in HOST_DATA:
            return "makes a tensor from host data"
        if func in _device_constructors() and kwargs.get("device") is None:
            return "makes a tensor without naming its device (a CPU tensor)"
        if func in MOVES and (func is not Tensor.to or _names_a_device(args[1:], kwargs)):
            return "moves a tensor to a device"
        if func in INDEXING and any(t.dtype == torch.bool for t in _tensors(args[1:2])):
            return "indexes with a boolean mask"
        elsewhere = {str(t.device) for t in _tensors((args, kwargs)) if t.device != self.device}
        return f"takes a tensor on {', '.join(sorted(elsewhere))}" if elsewhere else None


def _tensors(tree: Any) -> list[torch.Tensor]:
    return [leaf for leaf in tree_leaves(tree) if isinstance(leaf, torch.Tensor)]


def _names_a_device(args: tuple, kwargs: dict) -> bool:
    """Whether Tensor.to's arguments name a device (or a tensor, whose device it takes)."""
    given = [*args, kwargs.get("device"), kwargs.get("other")]
    return any(isinstance(a, (str, torch.device, torch.Tensor)) for a in given)


@contextlib.contextmanager
def no_host_transfers(device: torch.device) -> Iterator[list[str]]:
    """Yields the list of offending calls made inside the block; on CUDA the block also runs
    under torch.cuda.set_sync_debug_mode("error"), so any synchronisation raises."""
    with contextlib.ExitStack() as stack:
        if device.type == "cuda":
            previous = torch.cuda.get_sync_debug_mode()
            torch.cuda.set_sync_debug_mode("error")
            stack.callback(torch.cuda.set_sync_debug_mode, previous)
        transfers = stack.enter_context(HostTransfers(device))
        yield transfers.calls


def warmed_up(corpus: Path, device: torch.device, **options: Any) -> tuple[TrainState, Any]:
    """A state past two iterations (the first has no generator step) and a critic step on a
    fake batch of its own: every buffer, weight matrix, optimiser state and kernel choice of
    the steps below is made."""
    config = TrainConfig(device=str(device), iters=100, **{**TINY, **options})
    state, _ = build_state(config, corpus)
    engine = make_engine(state)
    for _ in range(2):
        train_iteration(state, engine)
    critic_step(state, engine, state.real_batch())
    return state, engine


def one_iteration_of_steps(state: TrainState, engine: Any, real_ids: torch.Tensor) -> None:
    """What train_iteration runs, given its real batch: the generator step, a critic step on
    the iteration's fake batches, and a critic step that makes its own."""
    generator_step(state, engine)
    fakes = generate_fakes(state, engine, state.config.critic_iters)  # (critic_iters, B, L, V)
    critic_step(state, engine, real_ids, fakes[0])
    critic_step(state, engine, real_ids)


ENGINES = [("fused", conv) for conv in CONV_IMPLS] + [("autograd", "auto")]
OBJECTIVES = [("hinge", "gp"), ("gan", "lp"), ("wasserstein", "clip"), ("wasserstein", "sn"),
              ("wasserstein", "none")]  # fmt: skip


def assert_steps_stay_on_device(corpus: Path, device: torch.device, **options: Any) -> None:
    bf16 = options.get("precision") == "bf16"
    if bf16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    state, engine = warmed_up(corpus, device, **options)
    real_ids = state.real_batch()  # the data order's epoch boundary may copy: outside a step
    with no_host_transfers(state.device) as calls:
        one_iteration_of_steps(state, engine, real_ids)
    assert calls == []


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize(("engine", "conv"), ENGINES)
def test_a_step_neither_reads_from_nor_copies_to_the_host(
    tiny_corpus: Path, device: torch.device, engine: str, conv: str, precision: str
) -> None:
    assert_steps_stay_on_device(tiny_corpus, device, engine=engine, conv=conv,
                                precision=precision)  # fmt: skip


@pytest.mark.parametrize(("loss", "constraint"), OBJECTIVES)
def test_every_objective_steps_without_host_transfers(
    tiny_corpus: Path, device: torch.device, loss: str, constraint: str
) -> None:
    """Each loss and constraint, on the engine --engine auto picks for it."""
    assert_steps_stay_on_device(tiny_corpus, device, loss=loss, constraint=constraint,
                                precision="fp32")  # fmt: skip


@pytest.mark.parametrize(("engine", "conv"), ENGINES)
def test_buffers_made_inside_a_step_copy_nothing_from_the_host(
    tiny_corpus: Path, device: torch.device, engine: str, conv: str
) -> None:
    """The first step at a new batch shape makes the engine's buffers for it: on the device.
    (Without the sync check: a backend may time its kernels on a shape's first use.)"""
    config = TrainConfig(device=str(device), precision="fp32", engine=engine, conv=conv, iters=100,
                         **TINY)  # fmt: skip
    state, _ = build_state(config, tiny_corpus)
    engine = make_engine(state)
    train_iteration(state, engine)
    train_iteration(state, engine)
    real_ids = state.real_batch()
    with HostTransfers(state.device) as transfers:
        critic_step(state, engine, real_ids)  # one fake batch: a row count not seen before
    assert transfers.calls == []


def test_the_check_sees_what_would_cross_to_or_from_a_gpu() -> None:
    """Each kind of call the check looks for is caught on the CPU, and plain arithmetic is not."""
    device = torch.device("cpu")
    x = torch.ones(3, device=device)
    crossing = [
        lambda: x.sum().item(), lambda: x.tolist(), lambda: x.cpu(), lambda: bool(x[0] > 0),
        lambda: float(x[0]), lambda: torch.tensor([1.0]), lambda: torch.zeros(1),
        lambda: torch.full((2,), 0.5), lambda: x.to("cpu"), lambda: x.to(device=device),
        lambda: x[x > 0], lambda: x.nonzero(),
    ]  # fmt: skip
    for call in crossing:
        with no_host_transfers(device) as calls:
            call()
        assert len(calls) == 1, calls
    with no_host_transfers(torch.device("meta")) as calls:  # as a CPU tensor is on a CUDA run
        x.add(1)
    assert len(calls) == 1 and calls[0].endswith("add: takes a tensor on cpu")
    with no_host_transfers(device) as calls:
        y = torch.zeros(3, device=device).add_(x * 0.5).to(torch.bfloat16)
        y[1:] = 2.0
        torch.randn(3, device=device, generator=torch.Generator(device).manual_seed(0))
        x.new_zeros(2), torch.zeros_like(x), x[torch.arange(2, device=device)]
    assert calls == []

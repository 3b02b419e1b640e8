"""textgan's hand-derived training steps against a straightforward autograd reference (one critic
call per term, the penalty's double backward as in the paper): the same losses, penalty and
gradients in fp32, and close ones in bf16."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from textgan.config import TrainConfig
from textgan.data.sampler import one_hot
from textgan.engines.fused.engine import FusedEngine
from textgan.models.resnet import ConvLayer, Critic, Generator
from textgan.runtime.device import set_tf32
from textgan.training.state import TrainState, build_state
from textgan.training.steps import critic_step, generator_step, make_engine, train_iteration

CONFIG = dict(dim=48, n_blocks=3, seq_len=16, batch_size=16, critic_iters=2, eval_every=0)


@pytest.fixture(autouse=True)
def ieee_fp32() -> None:
    """fp32 products stay IEEE fp32 on both paths, as a `--precision fp32` training keeps them
    (training_settings): PyTorch's default lets cuDNN run the reference's convolutions (and the
    `native` engine's) as TF32, 1e-3 apart from fp32. conftest restores the flags afterwards."""
    set_tf32(False)


def conv(x: torch.Tensor, layer: ConvLayer) -> torch.Tensor:  # (B, C_in, L) → (B, C_out, L)
    weight = layer.weight.permute(2, 1, 0)  # stored (K, C_in, C_out)
    return F.conv1d(x, weight, layer.bias, padding=weight.shape[2] // 2)


def ref_critic(c: Critic, x: torch.Tensor) -> torch.Tensor:  # (B, L, V) → (B,)
    h = conv(x.transpose(1, 2), c.inp)
    for b in c.blocks:
        h = h + 0.3 * conv(F.relu(conv(F.relu(h), b.conv1)), b.conv2)
    return F.linear(h.flatten(1), c.fc.weight, c.fc.bias).squeeze(1)


def ref_generator(g: Generator, z: torch.Tensor) -> torch.Tensor:  # (B, 128) → (B, L, V)
    h = F.linear(z, g.fc.weight, g.fc.bias).view(z.shape[0], g.config.dim, g.config.seq_len)
    for b in g.blocks:
        h = h + 0.3 * conv(F.relu(conv(F.relu(h), b.conv1)), b.conv2)
    return F.softmax(conv(h, g.out).transpose(1, 2), dim=-1)


def ref_critic_loss(g: Generator, c: Critic, real, z, alpha) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        fake = ref_generator(g, z)
    inter = (real + alpha.view(-1, 1, 1) * (fake - real)).requires_grad_(True)
    (grad,) = torch.autograd.grad(ref_critic(c, inter).sum(), inter, create_graph=True)
    gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    return ref_critic(c, fake).mean() - ref_critic(c, real).mean() + 10 * gp, gp


def trained_state(
    corpus: Path, device: torch.device, precision: str, conv: str = "auto"
) -> tuple[TrainState, FusedEngine]:
    """A state a few iterations into training (seeded), so the critic is not at its init."""
    config = TrainConfig(device=str(device), precision=precision, conv=conv, iters=100, **CONFIG)
    state, _ = build_state(config, corpus)
    engine = make_engine(state)
    for _ in range(3):
        train_iteration(state, engine)
    return state, engine


def fixed_inputs(state: TrainState, seed: int = 7) -> tuple[torch.Tensor, ...]:
    """Pin the step's real batch, noise and α, so both paths see the same ones."""
    real_ids, noise, alpha = state.real_batch(), state.noise(), state.alpha()
    rng = torch.Generator(device=state.device).manual_seed(seed)
    noise = torch.randn(noise.shape, generator=rng, device=state.device)
    state.real_batch, state.noise, state.alpha = lambda: real_ids, lambda: noise, lambda: alpha
    return real_ids, noise, alpha


def reference_grads(state: TrainState, real_ids, noise, alpha) -> tuple[float, float, list]:
    critic, generator = state.critic, state.generator
    critic.zero_grad(set_to_none=True)
    loss, gp = ref_critic_loss(generator, critic, one_hot(real_ids, len(state.vocab)), noise, alpha)
    loss.backward()
    grads = [p.grad.clone() for p in critic.parameters()]
    critic.zero_grad(set_to_none=True)
    return loss.item(), gp.item(), grads


def relative(a: torch.Tensor | float, b: torch.Tensor | float) -> float:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


def critic_step_grads(state: TrainState, engine: FusedEngine) -> tuple[float, float, list]:
    """One textgan critic_step; the gradients it stepped with (Adam leaves .grad in place)."""
    parts = critic_step(state, engine, state.real_batch())
    return parts.loss.item(), parts.gp.item(), [p.grad.clone() for p in state.critic.parameters()]


def test_fp32_critic_step_equals_the_reference(tiny_corpus: Path, device, conv_impl) -> None:
    state, engine = trained_state(tiny_corpus, device, "fp32", conv_impl)
    inputs = fixed_inputs(state)
    ref_loss, ref_gp, ref = reference_grads(state, *inputs)
    loss, gp, ours = critic_step_grads(state, engine)
    assert relative(loss, ref_loss) <= 1e-4
    assert relative(gp, ref_gp) <= 1e-4 and ref_gp > 0
    names = [n for n, _ in state.critic.named_parameters()]
    for name, a, b in zip(names, ours, ref, strict=True):
        if b.norm() == 0:  # biases seen through linear maps only: their gradient is exactly 0
            assert a.norm() <= 1e-6, name
        else:
            assert relative(a, b) <= 1e-4, name


def test_fp32_generator_step_equals_the_reference(tiny_corpus: Path, device, conv_impl) -> None:
    state, engine = trained_state(tiny_corpus, device, "fp32", conv_impl)
    _, noise, _ = fixed_inputs(state)
    state.generator.zero_grad(set_to_none=True)
    ref_loss = -ref_critic(state.critic, ref_generator(state.generator, noise)).mean()
    ref_loss.backward()
    ref = [p.grad.clone() for p in state.generator.parameters()]
    critic_before = [p.detach().clone() for p in state.critic.parameters()]
    loss = generator_step(state, engine)
    assert relative(loss, ref_loss.detach()) <= 1e-4
    for a, b in zip([p.grad for p in state.generator.parameters()], ref, strict=True):
        assert relative(a, b) <= 1e-4
    # the critic is only scored through: its weights do not move, and train again afterwards
    after = state.critic.parameters()
    assert all(torch.equal(a, b) for a, b in zip(critic_before, after, strict=True))
    assert all(p.requires_grad for p in state.critic.parameters())


def test_bf16_critic_step_is_close_to_fp32(tiny_corpus: Path, device, conv_impl) -> None:
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    fp32, _fp32_engine = trained_state(tiny_corpus, device, "fp32")
    bf16, bf16_engine = trained_state(tiny_corpus, device, "bf16", conv_impl)
    assert bf16_engine.dtype == torch.bfloat16
    bf16.generator.load_state_dict(fp32.generator.state_dict())
    bf16.critic.load_state_dict(fp32.critic.state_dict())
    inputs = fixed_inputs(fp32)
    bf16.real_batch, bf16.noise, bf16.alpha = fp32.real_batch, fp32.noise, fp32.alpha
    ref_loss, ref_gp, ref = reference_grads(fp32, *inputs)
    loss, gp, ours = critic_step_grads(bf16, bf16_engine)
    assert relative(loss, ref_loss) <= 2e-2
    assert relative(gp, ref_gp) <= 2e-2
    for (name, p), a, b in zip(bf16.critic.named_parameters(), ours, ref, strict=True):
        assert p.dtype == torch.float32 and a.dtype == torch.float32, name  # fp32 master weights
        if b.norm() == 0:
            continue
        assert F.cosine_similarity(a.flatten(), b.flatten(), dim=0) >= 0.99, name
    for group in bf16.opt_c.state.values():  # Adam moments stay fp32
        assert group["exp_avg"].dtype == torch.float32


def test_bf16_generator_step_is_close_to_fp32(tiny_corpus: Path, device, conv_impl) -> None:
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    fp32, fp32_engine = trained_state(tiny_corpus, device, "fp32")
    bf16, bf16_engine = trained_state(tiny_corpus, device, "bf16", conv_impl)
    bf16.generator.load_state_dict(fp32.generator.state_dict())
    bf16.critic.load_state_dict(fp32.critic.state_dict())
    _, noise, _ = fixed_inputs(fp32)
    bf16.noise = fp32.noise
    with torch.no_grad():  # the loss is −mean D(G(z)), often near 0: measured against the scores
        scores = ref_critic(fp32.critic, ref_generator(fp32.generator, noise)).abs().mean().item()
    ref_loss = generator_step(fp32, fp32_engine).item()
    ref = [p.grad.clone() for p in fp32.generator.parameters()]
    loss = generator_step(bf16, bf16_engine).item()
    assert abs(loss - ref_loss) <= 2e-2 * scores
    for (name, p), b in zip(bf16.generator.named_parameters(), ref, strict=True):
        assert p.grad.dtype == torch.float32, name
        assert F.cosine_similarity(p.grad.flatten(), b.flatten(), dim=0) >= 0.99, name


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "expected"),
    [(True, False, torch.bfloat16), (False, True, torch.bfloat16), (False, False, torch.float32)],
)
def test_auto_precision_is_bf16_only_on_cpus_with_native_bf16(
    monkeypatch: pytest.MonkeyPatch, amx: bool, avx512_bf16: bool, expected
) -> None:
    from textgan.runtime.device import compute_dtype

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    assert compute_dtype("auto", torch.device("cpu")) is expected
    assert compute_dtype("fp32", torch.device("cpu")) is torch.float32
    assert compute_dtype("bf16", torch.device("cpu")) is torch.bfloat16


@pytest.mark.parametrize(
    ("amx", "dim", "seq_len", "expected"),
    [(True, 128, 32, "im2col"), (True, 512, 32, "im2col"), (False, 128, 32, "native"),
     (False, 256, 32, "winograd"), (False, 512, 30, "native")],
)  # fmt: skip
def test_auto_conv_depends_on_the_cpu_and_the_width(
    monkeypatch: pytest.MonkeyPatch, amx: bool, dim: int, seq_len: int, expected: str
) -> None:
    from textgan.runtime.device import conv_impl

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert conv_impl("auto", cpu, dim, seq_len) == expected
    assert conv_impl("auto", cuda, dim, seq_len) == "im2col"
    for impl in ("im2col", "native", "winograd"):
        assert conv_impl(impl, cpu, dim, seq_len) == impl
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert conv_impl("auto", cpu, dim, seq_len) == "im2col"  # no oneDNN: no fast convs


def test_training_runs_the_conv_it_was_given(tiny_corpus: Path, conv_impl: str) -> None:
    from textgan.engines.fused.conv import Im2colConv, NativeConv, WinogradConv

    _state, engine = trained_state(tiny_corpus, torch.device("cpu"), "fp32", conv_impl)
    assert engine.conv == conv_impl
    kind = {"im2col": Im2colConv, "native": NativeConv, "winograd": WinogradConv}[conv_impl]
    assert {type(b.conv) for b in engine.buffers.values()} == {kind}

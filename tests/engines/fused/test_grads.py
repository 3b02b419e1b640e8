"""The hand-derived passes (residual, critic_grads, generator_grads) against autograd on the
modules, in float64: first and second derivatives agree to rounding."""

from pathlib import Path

import pytest
import torch

from textgan.config import ModelConfig, TrainConfig
from textgan.engines.fused.critic import CriticWeights, critic_loss_and_grads
from textgan.engines.fused.generator import GeneratorWeights, generate, generator_loss_and_grads
from textgan.engines.fused.residual import (
    StackWeights,
    stack_backward,
    stack_buffers,
    stack_forward,
    stack_second_order,
    stack_weight_grads,
)
from textgan.models.resnet import build_models
from textgan.objectives.losses import Objective, critic_loss, generator_loss
from textgan.training.state import build_state
from textgan.training.steps import generate_fakes, make_engine, set_grads

F64 = torch.float64
CONFIG = ModelConfig(vocab_size=9, seq_len=8, dim=6, n_blocks=2)  # 8: Winograd tiles (of 4)


def models(seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A generator and critic in float64 with every parameter non-zero (biases included)."""
    generator, critic = build_models(CONFIG, seed)
    rng = torch.Generator().manual_seed(seed)
    for p in [*generator.parameters(), *critic.parameters()]:
        p.data.add_(0.1 * torch.randn(p.shape, generator=rng))
    return generator.to(F64), critic.to(F64)


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-9, atol=1e-12)


def stack_setup(impl: str, n: int = 4):
    _, critic = models()
    x = torch.randn(n, CONFIG.seq_len, CONFIG.dim, dtype=F64)  # (N, L, C) as the modules take it
    upstream = torch.randn_like(x)
    buffers = stack_buffers(critic, n, F64, impl=impl)
    weights = StackWeights.of(critic.blocks, F64, impl=impl)
    h = stack_forward(x.clone(), weights, buffers)  # (N, L, C)
    buffers.u(len(critic.blocks)).interior.copy_(upstream)
    return critic, x, upstream, buffers, weights, h


def test_stack_forward_and_backward_are_the_blocks_and_their_input_gradient(conv_impl) -> None:
    critic, x, upstream, buffers, weights, h = stack_setup(conv_impl)
    x = x.requires_grad_(True)
    out = critic.blocks(x)
    assert close(h, out.detach())
    score = (out * upstream).sum()
    params = [p for block in critic.blocks for p in block.parameters()]
    expected_x, *expected = torch.autograd.grad(score, [x, *params])
    u0 = stack_backward(weights, buffers)
    assert close(u0, expected_x)
    conv_grads, bias_grads = stack_weight_grads(buffers, [slice(0, 4)], len(weights.forward))
    ours = [g for pair in zip(conv_grads, bias_grads, strict=True) for g in pair]
    for got, want in zip(ours, expected, strict=True):
        assert close(got, want)


def test_stack_second_order_is_autograds_double_backward(conv_impl: str) -> None:
    """For F = ⟨δ, ∇x⟨U, blocks(x)⟩⟩: dF/dU comes back from stack_second_order, and every conv
    weight's dF/dW from stack_weight_grads (biases reach F only through the masks: zero)."""
    critic, x, upstream, buffers, weights, _ = stack_setup(conv_impl)
    delta = torch.randn_like(x)
    x, upstream = x.requires_grad_(True), upstream.requires_grad_(True)
    (grad_x,) = torch.autograd.grad((critic.blocks(x) * upstream).sum(), x, create_graph=True)
    params = [p for block in critic.blocks for p in block.parameters()]
    wanted = torch.autograd.grad((grad_x * delta).sum(), [upstream, *params], allow_unused=True)
    stack_backward(weights, buffers)
    top = stack_second_order(delta.clone(), weights, buffers, slice(0, 4))
    assert close(top, wanted[0])
    conv_grads, bias_grads = stack_weight_grads(buffers, [slice(0, 0)], len(weights.forward))
    for got, want in zip(conv_grads, wanted[1::2], strict=True):
        assert close(got, want)
    assert all(g.abs().max() == 0 for g in bias_grads)
    assert all(w is None or w.abs().max() < 1e-12 for w in wanted[2::2])


def test_bias_terms_that_cancel_give_exactly_zero() -> None:
    """The last conv's bias and fc's bias add a constant to every score: it cancels in
    D(fake) − D(real) and leaves ∇x̂ D unchanged, so their gradient is exactly zero, as autograd
    finds too (to rounding), and Adam leaves them alone."""
    _, critic = models()
    real_ids = torch.randint(0, CONFIG.vocab_size, (8, CONFIG.seq_len))
    fake = torch.softmax(torch.randn(8, CONFIG.seq_len, CONFIG.vocab_size, dtype=F64), dim=-1)
    alpha = torch.rand(8, dtype=F64)
    real = torch.nn.functional.one_hot(real_ids, CONFIG.vocab_size).to(F64)
    critic_loss(critic, real, fake, 10.0, alpha=alpha).loss.backward()
    last_bias = f"blocks.{CONFIG.n_blocks - 1}.conv2.bias"
    wanted = dict(critic.named_parameters())
    for name in (last_bias, "fc.bias"):
        assert wanted[name].grad.abs().max() < 1e-12, name
    _, grads = critic_loss_and_grads(critic.float(), real_ids, fake.float(), alpha.float(),
                                     Objective())  # fmt: skip
    assert grads[last_bias].abs().max() == 0 and grads["fc.bias"].abs().max() == 0
    assert grads["blocks.0.conv2.bias"].abs().max() > 0


def test_a_permuted_gradient_steps_the_fused_optimiser_right() -> None:
    """Autograd hands back a conv weight's gradient in a permuted layout; the fused Adam reads
    .grad as laid out like the parameter, so set_grads lays it out so."""
    generator, _ = models()
    param = generator.blocks[0].conv1.weight  # (K, C, C)
    grad = torch.randn(param.shape[::-1], dtype=F64).permute(2, 1, 0)  # same shape, permuted
    steps = {}
    for fused in (True, False):
        start = param.detach().clone()
        optimizer = torch.optim.Adam([param], lr=0.1, fused=fused)
        grads = {n: torch.zeros_like(p) for n, p in generator.named_parameters()}
        set_grads(generator, {**grads, "blocks.0.conv1.weight": grad})
        assert param.grad.is_contiguous()
        optimizer.step()
        steps[fused] = param.detach() - start
        param.data.copy_(start)
    torch.testing.assert_close(steps[True], steps[False])
    torch.testing.assert_close(steps[True], -0.1 * torch.sign(grad))


def test_gradients_are_set_by_name_and_checked() -> None:
    generator, _ = models()
    grads = {
        name: torch.full_like(p, i) for i, (name, p) in enumerate(generator.named_parameters())
    }
    set_grads(generator, grads)
    for i, (name, p) in enumerate(generator.named_parameters()):
        assert torch.equal(p.grad, torch.full_like(p, i)), name
    with pytest.raises(RuntimeError, match=r"missing for \['out.bias'\]"):
        set_grads(generator, {k: v for k, v in grads.items() if k != "out.bias"})
    with pytest.raises(RuntimeError, match="unknown"):
        set_grads(generator, {**grads, "out.scale": grads["out.bias"]})
    with pytest.raises(RuntimeError, match="shape"):
        set_grads(generator, {**grads, "out.bias": grads["out.bias"][:-1]})


@pytest.mark.parametrize("gp_weight", [10.0, 0.0])
def test_critic_loss_and_grads_equal_autograds(gp_weight: float, conv_impl: str) -> None:
    _, critic = models()
    batch = 5
    real_ids = torch.randint(0, CONFIG.vocab_size, (batch, CONFIG.seq_len))
    real = torch.nn.functional.one_hot(real_ids, CONFIG.vocab_size).to(F64)
    fake = torch.softmax(torch.randn(batch, CONFIG.seq_len, CONFIG.vocab_size, dtype=F64), -1)
    alpha = torch.rand(batch, dtype=F64)
    expected = critic_loss(critic, real, fake, gp_weight, alpha=alpha)
    expected.loss.backward()
    wanted = [p.grad.clone() for p in critic.parameters()]
    critic.zero_grad(set_to_none=True)
    buffers = stack_buffers(critic, 3 * batch, F64, impl=conv_impl)
    weights = CriticWeights.of(critic, F64, conv_impl)
    objective = Objective(weight=gp_weight)
    parts, grads = critic_loss_and_grads(critic, real_ids, fake, alpha, objective, dtype=F64,
                                         buffers=buffers, weights=weights)  # fmt: skip
    for got, want in zip(parts.__dict__.values(), expected.__dict__.values(), strict=True):
        assert close(got, want.detach())
    assert expected.gp > 0.1  # a penalty far from zero, so its gradient is exercised
    assert list(grads) == [name for name, _ in critic.named_parameters()]
    for (name, p), want in zip(critic.named_parameters(), wanted, strict=True):
        assert grads[name].dtype == F64 and grads[name].shape == p.shape, name
        assert close(grads[name], want), name


def test_generate_and_generator_grads_equal_autograds(conv_impl: str) -> None:
    generator, critic = models()
    z = torch.randn(5, CONFIG.noise_dim, dtype=F64)
    sampling = stack_buffers(generator, 5, F64, backward=False, impl=conv_impl)
    weights = GeneratorWeights.of(generator, F64, backward=False, impl=conv_impl)
    assert close(generate(weights, z, sampling), generator(z).detach())
    critic.requires_grad_(False)
    expected = generator_loss(critic, generator(z))
    expected.backward()
    wanted = [p.grad.clone() for p in generator.parameters()]
    generator.zero_grad(set_to_none=True)
    buffers = [stack_buffers(net, 5, F64, impl=conv_impl) for net in (generator, critic)]
    critic_weights = CriticWeights.of(critic, F64, conv_impl)
    weights = GeneratorWeights.of(generator, F64, impl=conv_impl)
    loss, grads = generator_loss_and_grads(generator, critic_weights, z, buffers=buffers[0],
                                           critic_buffers=buffers[1], weights=weights)  # fmt: skip
    assert close(loss, expected.detach())
    assert list(grads) == [name for name, _ in generator.named_parameters()]
    for (name, p), want in zip(generator.named_parameters(), wanted, strict=True):
        assert grads[name].shape == p.shape and close(grads[name], want), name
    assert all(p.grad is None for p in critic.parameters())


def test_fakes_made_together_equal_one_batch_at_a_time(tiny_corpus: Path) -> None:
    config = TrainConfig(dim=8, n_blocks=1, seq_len=12, batch_size=16, critic_iters=3,
                         eval_every=0, device="cpu", precision="fp32")  # fmt: skip
    together, _ = build_state(config, tiny_corpus)
    one_by_one, _ = build_state(config, tiny_corpus)
    fakes = generate_fakes(together, make_engine(together), 3)
    assert fakes.shape == (3, 16, 12, len(together.vocab))
    for fake in fakes:
        with torch.no_grad():
            assert torch.allclose(fake, one_by_one.generator(one_by_one.noise()), atol=1e-6)

"""The dense direct conv for few-channel inputs (snnsim.native.direct_conv) agrees with torch's conv
and its weight gradient within float rounding, and the trainable conv path takes it only for
1-channel inputs that need no gradient, at or above DIRECT_CROSSOVER of them active (forward,
weight gradient)."""

import pytest
import torch
import torch.nn.functional as F

from snnsim.core import event_conv
from snnsim.native import direct_conv

needs_kernel = pytest.mark.skipif(direct_conv.native_status() != "loaded", reason="no C compiler")

# (N, C, H, W, O, K, stride, padding): LeNet's conv1; a strided padded 3-channel stem; 70 outputs
# (more than one pass of 4 vectors); 16 outputs (one vector); a row of fewer outputs than a block
SHAPES = [
    (5, 1, 28, 28, 20, 5, 1, 0),
    (3, 3, 9, 11, 32, 3, 2, 1),
    (2, 1, 8, 8, 70, 3, 1, 2),
    (2, 2, 10, 7, 16, 3, 1, 1),
    (3, 1, 6, 6, 5, 5, 1, 0),
]


def _data(shape, dtype):
    n, c, h, w, o, k, s, p = shape
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.rand(n, c, h, w, generator=g) < 0.3
    if dtype == torch.float32:
        x = x * torch.rand(n, c, h, w, generator=g)
    weight, bias = torch.randn(o, c, k, k, generator=g), torch.randn(o, generator=g)
    return x, weight, bias, s, p


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.bool, torch.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_weight_gradient_match_torch(shape, dtype):
    x, weight, bias, s, p = _data(shape, dtype)
    assert direct_conv.usable(x, weight, bias)
    ref = F.conv2d(x.float(), weight, bias, s, p)
    for cl in (False, True):
        out = direct_conv.direct_conv2d(x, weight, bias, s, p, channels_last=cl)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        assert out.is_contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)
    grad = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))
    want = torch.ops.aten.convolution_backward(
        grad, x.float(), weight, None, (s, s), (p, p), (1, 1), False, (0, 0), 1, (False, True, False)
    )[1]
    for gr in (grad, grad.contiguous(memory_format=torch.channels_last)):
        got = direct_conv.direct_conv2d_wgrad(x, gr, weight.shape[2], s, p)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)


@needs_kernel
def test_channels_last_input_and_thread_counts():
    """A channels-last input is read in place; a sample's outputs do not depend on the thread
    count (threads split the samples), the weight gradient only within rounding."""
    x, weight, bias, s, p = _data((6, 3, 9, 9, 24, 3, 1, 1), torch.float32)
    ref = direct_conv.direct_conv2d(x, weight, bias, s, p)
    assert torch.equal(
        direct_conv.direct_conv2d(x.contiguous(memory_format=torch.channels_last), weight, bias, s, p), ref
    )
    grad = torch.randn(ref.shape)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one, wg_one = (
            direct_conv.direct_conv2d(x, weight, bias, s, p),
            direct_conv.direct_conv2d_wgrad(x, grad, 3, s, p),
        )
        torch.set_num_threads(2)
        two, wg_two = (
            direct_conv.direct_conv2d(x, weight, bias, s, p),
            direct_conv.direct_conv2d_wgrad(x, grad, 3, s, p),
        )
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)
    torch.testing.assert_close(wg_one, wg_two, rtol=1e-5, atol=1e-5)


@needs_kernel
def test_empty_batch_and_too_many_rows():
    x = torch.zeros(0, 1, 8, 8, dtype=torch.bool)
    w = torch.randn(4, 1, 3, 3)
    assert direct_conv.direct_conv2d(x, w, None, 1, 0).shape == (0, 4, 6, 6)
    assert torch.equal(direct_conv.direct_conv2d_wgrad(x, torch.zeros(0, 4, 6, 6), 3, 1, 0), torch.zeros(4, 1, 3, 3))
    big = torch.randn(4, 4, 5, 5)  # 100 weight rows > MAX_ROWS
    assert not direct_conv.usable(torch.zeros(1, 4, 8, 8, dtype=torch.bool), big, None)


@needs_kernel
def test_trainable_conv_picks_the_direct_kernel_above_the_crossover(monkeypatch):
    conv = torch.nn.Conv2d(1, 20, 5)
    calls = []
    apply = event_conv._EventConv.apply
    monkeypatch.setattr(event_conv._EventConv, "apply", lambda *a: calls.append(a[-1]) or apply(*a))
    fwd, wgrad = event_conv.DIRECT_CROSSOVER
    densities = (fwd / 2, (fwd + wgrad) / 2, wgrad + 0.05, 0.9)
    for d in densities:
        x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(2)) < d
        assert event_conv.trainable_usable(x, conv)
        out = event_conv.event_conv_trainable(x, conv)
        ref = conv(x.float())
        grad = torch.randn(ref.shape)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        gw, gb = torch.autograd.grad(out, [conv.weight, conv.bias], grad)
        rw, rb = torch.autograd.grad(ref, [conv.weight, conv.bias], grad)
        torch.testing.assert_close(gw, rw, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(gb, rb, rtol=1e-5, atol=1e-4)
    assert calls == [(False, False), (True, False), (True, True), (True, True)]
    monkeypatch.setenv("SNNSIM_DIRECT_CONV", "0")  # off: dense inputs go back to MKLDNN
    assert not event_conv.trainable_usable(torch.ones(2, 1, 8, 8, dtype=torch.bool), torch.nn.Conv2d(1, 4, 3))


def test_simulation_takes_the_direct_kernel_where_the_cost_model_says_dense(monkeypatch):
    """Without autograd a 1-channel input at or above DIRECT_CROSSOVER[0] that the cost model sends
    to the dense path runs in the direct kernel, not MKLDNN; both engines then agree bit for bit
    (each sample is summed on its own), and the potentials match MKLDNN's within rounding."""
    import networks
    from snnsim.core.density import ALWAYS_DENSE, use_cost_model
    from snnsim.engine import simulate
    from tests.helpers import assert_engines_agree, engine_tolerance, poisson_input, scale_weights

    net, x = scale_weights(networks.scnn(reset="subtract"), 0.25), poisson_input((10, 3, 1, 28, 28), 0.3)
    calls = []
    direct = direct_conv.direct_conv2d
    monkeypatch.setattr(direct_conv, "direct_conv2d", lambda *a, **k: calls.append(a[0].shape) or direct(*a, **k))
    with use_cost_model(ALWAYS_DENSE):
        fast = assert_engines_agree(net, x)
        ref = simulate(net, x, engine="bindsnet", record_voltage=True)
        assert (30, 1, 28, 28) in calls and (3, 1, 28, 28) in calls  # both engines' calls
        assert torch.equal(fast.voltages["conv1"], ref.voltages["conv1"])
        monkeypatch.setenv("SNNSIM_DIRECT_CONV", "0")  # MKLDNN: the same spikes, potentials within rounding
        mkl = simulate(net, x, engine="fast", record_voltage=True)
    assert len(calls) == 21  # the fast engine once, two step-by-step runs of 10 steps; none with the switch off
    assert torch.equal(mkl.spikes["conv1"], fast.spikes["conv1"])
    v = mkl.voltages["conv1"]
    assert float((fast.voltages["conv1"] - v).abs().max()) <= engine_tolerance(v)

"""The one-pass input gradient of non-overlapping average pooling (snnsim.core.pooling, issue 29)
gives torch's values bit for bit, in both layouts, and is taken only where it applies."""

import pytest
import torch
from torch import nn

from snnsim.core import pooling
from snnsim.native import pool as native

needs_pool = pytest.mark.skipif(native.native_status() != "loaded", reason="no C compiler")


@needs_pool
@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("shape, k", [((5, 20, 24, 24), 2), ((3, 4, 9, 7), 2), ((2, 3, 10, 11), 3)])
def test_avg_pool_matches_torch_bit_for_bit(shape, k, channels_last):
    g = torch.Generator().manual_seed(sum(shape) + k)
    x = (torch.rand(shape, generator=g) < 0.3).float()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    module = nn.AvgPool2d(k)
    assert pooling.usable(x, module)
    out, ref = pooling.avg_pool(x, module), module(x)
    grad = torch.randn(ref.shape, generator=g)
    got, want = torch.autograd.grad(out, x, grad)[0], torch.autograd.grad(ref, x, grad)[0]
    assert torch.equal(out, ref) and torch.equal(got, want)
    assert got.stride() == x.stride()


@needs_pool
def test_avg_pool_only_where_it_applies(monkeypatch):
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    assert pooling.usable(x, nn.AvgPool2d(2))
    assert not pooling.usable(x.detach(), nn.AvgPool2d(2))  # no gradient needed
    assert not pooling.usable(x, nn.AvgPool2d(3, stride=2))  # overlapping windows
    assert not pooling.usable(x, nn.AvgPool2d(2, padding=1))
    assert not pooling.usable(x, nn.AvgPool2d(2, ceil_mode=True))
    assert not pooling.usable(x, nn.AvgPool2d(2, divisor_override=3))
    assert not pooling.usable(x.double(), nn.AvgPool2d(2))
    with torch.no_grad():
        assert not pooling.usable(x, nn.AvgPool2d(2))
    monkeypatch.setenv("SNNSIM_FUSED_POOL", "0")
    assert not pooling.usable(x, nn.AvgPool2d(2))


@needs_pool
@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize(
    "shape, k", [((5, 20, 24, 24), 2), ((3, 4, 9, 7), 2), ((2, 3, 10, 11), 3), ((2, 300, 4, 4), 2)]
)
def test_pooling_bool_spikes_matches_torch_on_the_float_spikes_bit_for_bit(shape, k, channels_last):
    """Simulation: pooled bool spikes (exact counts / k^2) equal avg_pool2d of the float spikes, in
    the input's layout, the rows and columns floor mode drops left out (and > 256 channels)."""
    g = torch.Generator().manual_seed(sum(shape) + k)
    x = torch.rand(shape, generator=g) < 0.3
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    module = nn.AvgPool2d(k)
    assert pooling.spikes_usable(x, module)
    out = pooling.avg_pool_spikes(x, module)
    assert torch.equal(out, module(x.float())) and out.dtype == torch.float32
    assert out.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


@needs_pool
def test_pooling_bool_spikes_only_where_it_applies(monkeypatch):
    x = torch.rand(2, 3, 8, 8) < 0.3
    assert not pooling.spikes_usable(x.float(), nn.AvgPool2d(2))  # float input: torch (or the training path)
    assert not pooling.spikes_usable(x, nn.AvgPool2d(3, stride=2))  # overlapping windows
    assert not pooling.spikes_usable(x, nn.AvgPool2d(2, padding=1))
    assert not pooling.spikes_usable(x, nn.MaxPool2d(2))
    assert not pooling.spikes_usable(x[:, :, ::2], nn.AvgPool2d(2))  # neither layout
    monkeypatch.setenv("SNNSIM_FUSED_POOL", "0")
    assert not pooling.spikes_usable(x, nn.AvgPool2d(2))


@needs_pool
def test_a_simulated_conv_net_pools_its_spikes_natively_in_both_engines(monkeypatch):
    """networks.scnn's pooling layers take the kernel in both engines; the records equal those with
    the kernel switched off (torch's pooling of the float spikes), bit for bit."""
    import networks
    from snnsim.engine import simulate
    from tests.helpers import poisson_input, scale_weights

    net, x = scale_weights(networks.scnn(reset="subtract"), 0.25), poisson_input((8, 2, 1, 28, 28), 0.2)
    calls = []
    kernel = native.avgpool_spikes
    monkeypatch.setattr(native, "avgpool_spikes", lambda s, k: calls.append(s.shape) or kernel(s, k))
    runs = {e: simulate(net, x.clone(), engine=e, record_voltage=True) for e in ("fast", "bindsnet")}
    assert calls, "no pooling of bool spikes ran"
    monkeypatch.setenv("SNNSIM_FUSED_POOL", "0")
    plain = simulate(net, x.clone(), engine="fast", record_voltage=True)
    for name, v in plain.voltages.items():
        assert torch.equal(runs["fast"].voltages[name], v), name
    for name, s in runs["bindsnet"].spikes.items():
        assert torch.equal(runs["fast"].spikes[name], s), name

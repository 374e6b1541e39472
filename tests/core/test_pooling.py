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

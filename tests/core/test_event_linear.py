"""The event-driven linear op equals the dense one, forward and backward."""

import torch

from snnsim.core.connections import event_linear


def test_event_linear_matches_dense_forward_and_gradients():
    g = torch.Generator().manual_seed(0)
    spikes = torch.rand(50, 30, generator=g) < 0.2
    spikes[3] = False  # an empty row
    spikes[:, 7] = False  # an input that never fires
    lin = torch.nn.Linear(30, 12)
    out = event_linear(spikes, lin)
    gout = torch.randn(50, 12, generator=g)
    gw, gb = torch.autograd.grad((out * gout).sum(), [lin.weight, lin.bias])
    ref = lin(spikes.float())
    rw, rb = torch.autograd.grad((ref * gout).sum(), [lin.weight, lin.bias])
    assert torch.allclose(out, ref, atol=1e-6)
    assert torch.allclose(gw, rw, atol=1e-5) and torch.allclose(gb, rb, atol=1e-5)
    assert torch.equal(gw[:, 7], torch.zeros(12))

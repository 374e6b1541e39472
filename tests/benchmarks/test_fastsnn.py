"""The FastSNN benchmark's ``sequential`` contender (paper-style per-step loop) matches snnsim's LIF."""

import pytest
import torch

from benchmarks import fastsnn as bench
from snnsim.core.surrogate import surrogate_spike

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("synapse", ["event", "dense"])
def test_sequential_matches_standard(synapse):
    out = bench.check_sequential(synapse, n=32, t=24, batch=8)
    assert out["spikes_equal"] and out["spikes"] > 0
    assert out["max_rel_weight_grad_diff"] < 1e-4


def test_spike_fn_surrogate_gradient():
    """The sequential contender spikes through snnsim's one surrogate spike function."""
    assert bench.surrogate_spike is surrogate_spike
    h = torch.tensor([0.5, 1.0, 1.2], requires_grad=True)
    s = surrogate_spike(h, 1.0, bench.FastSigmoid(100.0))
    assert s.tolist() == [0.0, 1.0, 1.0]
    s.sum().backward()
    expected = 1.0 / (100.0 * (h.detach() - 1.0).abs() + 1.0) ** 2
    assert torch.allclose(h.grad, expected)

"""benchmarks/conv_profile.py: the time shares of a profiled conv-SNN run cover the run once."""

import pytest
import torch

import networks
import snnsim.core.connections as connections
from benchmarks import conv_profile as bench
from snnsim.core.nodes import SpikingNodes

pytestmark = pytest.mark.usefixtures("one_thread")


def test_profile_shares_sum_to_100_and_every_category_measured():
    net = networks.lenet()
    x, density = bench.poisson_mnist_like(t=4, batch=2)
    res = bench.profile_run(net, x)
    assert set(res["percent"]) == set(bench.CATEGORIES)
    assert sum(res["percent"].values()) == pytest.approx(100.0, abs=1e-6)
    # the labelled regions and ops fed every category: conv, pooling, fc (linear), IF layers
    for cat in ("conv", "linear_event", "neuron", "pooling"):
        assert res["ms"][cat] > 0, cat
    # self times are not counted twice: the ops' total fits inside the run's wall time
    assert res["unprofiled_ms"] > -0.05 * res["total_ms"]
    assert sum(res["conv_ms_per_connection"].values()) == pytest.approx(res["ms"]["conv"])
    assert set(res["conv_input_density"]) == {"input->conv1", "conv1->conv2"}
    assert res["conv_input_density"]["input->conv1"] == pytest.approx(density)
    est = bench.event_conv_estimate(res)
    assert 0 <= est["best_case_conv_ms"] <= est["conv_ms"]


def test_labels_are_removed_after_the_profile():
    before = (connections.ModuleConnection.compute_multi, connections.event_linear, SpikingNodes.multi_step)
    with bench.labelled_regions(networks.scnn()):
        assert connections.event_linear is not before[1]
    assert (connections.ModuleConnection.compute_multi, connections.event_linear, SpikingNodes.multi_step) == before


def test_input_density_is_what_was_drawn():
    x, density = bench.poisson_mnist_like(t=3, batch=2, seed=1)
    assert x.dtype == torch.bool and tuple(x.shape) == (3, 2, 1, 28, 28)
    assert density == pytest.approx(x.float().mean().item())

"""Stock BindsNET use and the inputs the analysis functions accept (issue 14, item 9).

- ``Network.run`` of an snnsim network builds no autograd graph (the connections' ``compute``
  runs without autograd), so its state and monitors hold plain tensors and memory stays
  flat in T; the fast engine keeps its gradients.
- Every analysis function takes a Record, a dict layer -> data or one tensor/array, each a
  torch tensor (with or without grad) or numpy array, ``[T, N]`` (one sample) or
  ``[T, B, N]``, through one normaliser (``analysis.plotting.as_record``).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from bindsnet.analysis.plotting import plot_voltages
from bindsnet.network.monitors import Monitor
from matplotlib.collections import PathCollection

import networks
from analysis import (
    RasterViewer,
    firing_rates,
    first_spike_times,
    neuron_rates,
    plot_firing_rates,
    plot_first_spike_times,
    plot_raster,
    plot_rate_histogram,
    plot_traces,
    raster_points,
    rate_histogram_data,
    trace_data,
)
from analysis.plotting import as_record, as_time_major
from encoders import first_spike_times as first_spike_index
from snnsim.engine import forward, simulate
from snnsim.errors import UserError, UserTypeError

T, B, N = 25, 3, 12


def stock_run(t: int = T):  # type: ignore[no-untyped-def]
    """fc 20-30-4 run through BindsNET's own Network.run with autograd on (the default)."""
    torch.manual_seed(0)
    net = networks.fc([20, 30, 4])
    for name, layer in net.layers.items():
        net.add_monitor(Monitor(layer, state_vars=["s"] if name == "input" else ["s", "v"], time=t), name)
    x = torch.rand(t, B, 20) < 0.3
    assert torch.is_grad_enabled()
    net.run(inputs={"input": x}, time=t, one_step=True)
    return net, x


def test_network_run_builds_no_graph() -> None:
    net, _ = stock_run()
    assert any(p.requires_grad for p in net.parameters())  # the weights do require grad
    for name in ("fc1", "out"):
        layer, mon = net.layers[name], net.monitors[name]
        for x in (layer.v, layer.s, mon.get("v"), mon.get("s")):
            assert not x.requires_grad and x.grad_fn is None, name
    assert int(net.monitors["fc1"].get("s").sum()) > 0  # it did simulate


def test_connection_step_and_fast_engine_keep_gradients() -> None:
    torch.manual_seed(0)
    net = networks.fc([20, 30, 4])
    conn = net.connections[("input", "fc1")]
    x = torch.rand(B, 20) < 0.3
    assert conn.compute(x).grad_fn is None  # what Network.run calls
    step = conn.compute_step(x)
    assert step.grad_fn is not None
    step.sum().backward()
    assert conn.layers[0].weight.grad is not None and bool(conn.layers[0].weight.grad.abs().sum() > 0)
    rec = forward(net, (torch.rand(T, B, 20) < 0.3).float())
    assert rec.voltages["out"].grad_fn is not None  # learning rules still train through time


def test_plots_of_a_stock_run() -> None:
    """BindsNET's plot_voltages and snnsim's plots take what the monitors recorded."""
    net, _ = stock_run()
    v = {n: net.monitors[n].get("v") for n in ("fc1", "out")}  # [T, B, n]
    ims, axes = plot_voltages({n: x[:, 0] for n, x in v.items()})  # [T, n]; pcolormesh calls .numpy()
    assert len(ims) == 2
    plt.close("all")
    fig = plot_traces(v, neurons=[0, 1])
    lines = {ln.get_label(): ln for ax in fig.axes for ln in ax.lines}
    assert np.allclose(lines["out[1]"].get_ydata(), v["out"][:, 0, 1].numpy())
    s = {n: net.monitors[n].get("s") for n in ("fc1", "out")}
    fig = plot_rate_histogram(s, bins=5, log_y=False)
    heights = [sum(p.get_height() for p in ax.patches) for ax in fig.axes if ax.get_visible()]
    assert heights == [30, 4]


# --- the forms the analysis functions accept ---------------------------------------------
def reference() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.rand(T, B, N, generator=g) < 0.25


FORMS = {
    "tensor [T,B,N]": (lambda r: r, False),
    "tensor [T,B,N] with grad": (lambda r: r.float().requires_grad_(), False),
    "numpy [T,B,N]": (lambda r: r.numpy(), False),
    "numpy float [T,B,N]": (lambda r: r.numpy().astype(np.float32), False),
    "tensor [T,N]": (lambda r: r[:, 0], True),
    "tensor [T,N] with grad": (lambda r: r[:, 0].float().requires_grad_(), True),
    "numpy [T,N]": (lambda r: r[:, 0].numpy(), True),
}


@pytest.fixture(params=list(FORMS))
def form(request):  # type: ignore[no-untyped-def]
    """(data in that form, the bool [T, B', N] it stands for)."""
    make, one_sample = FORMS[request.param]
    ref = reference()
    return make(ref), (ref[:, :1] if one_sample else ref)


def drawn_points(fig) -> np.ndarray:  # type: ignore[no-untyped-def]
    (coll,) = [c for ax in fig.axes for c in ax.collections if isinstance(c, PathCollection)]
    return np.asarray(coll.get_offsets())


def expected_points(expected: torch.Tensor, sample: int) -> np.ndarray:
    t, n = expected[:, sample].nonzero(as_tuple=True)
    return np.stack([t.double().numpy(), n.double().numpy()], 1)


def test_as_time_major_shapes(form) -> None:  # type: ignore[no-untyped-def]
    data, expected = form
    x = as_time_major(data)
    assert x.shape == expected.shape and not x.requires_grad and x.device.type == "cpu"
    assert torch.equal(x != 0, expected)


def test_raster_draws_every_neuron_of_every_form(form) -> None:  # type: ignore[no-untyped-def]
    data, expected = form
    sample = expected.shape[1] - 1
    for arg in ({"layer": data}, data):
        fig = plot_raster(arg, sample=sample)
        assert np.array_equal(drawn_points(fig), expected_points(expected, sample))
        assert fig.axes[0].get_ylim() == (N - 0.5, -0.5)  # N neurons, not one
    t, n = raster_points(data, sample)
    assert torch.equal(torch.stack([t, n], 1).double(), torch.from_numpy(expected_points(expected, sample)))


def test_rates_and_histograms_of_every_form(form) -> None:  # type: ignore[no-untyped-def]
    data, expected = form
    assert firing_rates({"l": data})["l"] == pytest.approx(float(expected.double().mean()))
    assert torch.allclose(neuron_rates(data, "layer"), expected.double().mean((0, 1)))
    counts, edges = rate_histogram_data({"l": data}, bins=4)["l"]
    want, _ = np.histogram(expected.double().mean((0, 1)).numpy(), bins=4, range=(0.0, 1.0))
    assert counts.tolist() == want.tolist() and int(counts.sum()) == N
    fig = plot_rate_histogram(data, bins=4, log_y=False)
    assert [p.get_height() for p in fig.axes[0].patches] == want.tolist()
    fig = plot_firing_rates({"l": data})
    assert fig.axes[0].patches[0].get_height() == pytest.approx(float(expected.double().mean()))


def test_first_spikes_and_viewer_of_every_form(form) -> None:  # type: ignore[no-untyped-def]
    data, expected = form
    assert torch.equal(first_spike_times({"l": data}, "l"), first_spike_index(expected))
    plot_first_spike_times(data)
    viewer = RasterViewer(data)
    try:
        assert viewer.n_samples == expected.shape[1] and viewer.sizes["layer"] == N
        assert len(viewer.points()) == int(expected[:, 0].sum())
    finally:
        viewer.close()


@pytest.mark.parametrize("one_sample", [False, True])
@pytest.mark.parametrize("kind", ["tensor", "grad", "numpy"])
def test_traces_of_potentials(kind: str, one_sample: bool) -> None:
    g = torch.Generator().manual_seed(4)
    v = torch.randn(T, 1 if one_sample else B, N, generator=g)
    data = {"tensor": v, "grad": v.clone().requires_grad_(), "numpy": v.numpy()}[kind]
    if one_sample:
        data = data[:, 0]
    assert torch.equal(trace_data({"h": data}, "h", [2, 5]), v[:, 0, [2, 5]])
    fig = plot_traces({"h": data}, neurons=[2, 5], thresh=0.5)
    lines = {ln.get_label(): ln for ln in fig.axes[0].lines}
    assert np.allclose(lines["h[5]"].get_ydata(), v[:, 0, 5].numpy())


def test_record_with_grad_from_the_fast_engine() -> None:
    torch.manual_seed(0)
    net = networks.fc([20, 30, 4])
    rec = forward(net, (torch.rand(T, B, 20) < 0.3).float(), record_voltage=["fc1", "out"])
    assert rec.spikes["fc1"].requires_grad and rec.voltages["fc1"].requires_grad
    plain = simulate(net, rec.spikes["input"].bool(), record_voltage=True)
    assert rate_histogram_data(rec)["fc1"][0].tolist() == rate_histogram_data(plain)["fc1"][0].tolist()
    fig = plot_traces(rec, "fc1", neurons=[0])
    assert np.allclose(fig.axes[0].lines[0].get_ydata(), rec.voltages["fc1"][:, 0, 0].detach().numpy())
    assert as_record(rec).kinds == rec.kinds


def test_bad_inputs_are_user_errors() -> None:
    with pytest.raises(UserError, match=r"\[T, N\], \[T, B, N\]"):
        plot_raster(torch.zeros(5))
    with pytest.raises(UserTypeError, match="torch tensor or numpy array"):
        plot_raster({"l": [[0, 1], [1, 0]]})
    with pytest.raises(UserError, match="holds no layers"):
        firing_rates({})

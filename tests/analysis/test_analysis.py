"""Tests for the analysis plots and their data functions, on real simulations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from matplotlib.backend_bases import KeyEvent
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

import networks
from analysis import (
    RasterViewer,
    accuracy_curves,
    confusion_matrix,
    firing_rates,
    first_spike_times,
    layer_thresholds,
    neuron_rates,
    plot_accuracy_vs_time,
    plot_confusion_matrix,
    plot_firing_rates,
    plot_first_spike_times,
    plot_raster,
    plot_rate_histogram,
    plot_traces,
    raster_points,
    rate_histogram_data,
    rates_from_counts,
    rates_from_report,
    shown_neurons,
    ttfs_histogram_data,
)
from snnsim.core.spec import build_network
from snnsim.engine import Record, simulate

T, B = 30, 6


def make_net(seed: int = 0):  # type: ignore[no-untyped-def]
    """input [1, 8, 8] -> conv1 (4x6x6) -> avgpool+linear fc1 (16) -> out (5), IF thresh 0.5."""
    torch.manual_seed(seed)
    return build_network(networks.conv_spec([(4, 3)], 5, input_shape=(1, 8, 8), hidden_fc=(16,), thresh=0.5))


def make_input(t: int = T, b: int = B, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 1, 8, 8, generator=g)
    return torch.rand(t, b, 1, 8, 8, generator=g) < x * 0.6


@pytest.fixture(scope="module")
def net():  # type: ignore[no-untyped-def]
    return make_net()


@pytest.fixture(scope="module")
def rec(net) -> Record:  # type: ignore[no-untyped-def]
    r = simulate(net, make_input(), record_voltage=True)
    assert all(int(s.sum()) > 0 for s in r.spikes.values()), "the test network should spike in every layer"
    return r


def scatter_offsets(ax) -> np.ndarray:  # type: ignore[no-untyped-def]
    (coll,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    return np.asarray(coll.get_offsets())


# --- raster ---------------------------------------------------------------------------------
@pytest.mark.parametrize("sample", [0, 3])
def test_raster_has_one_point_per_spike(rec: Record, sample: int) -> None:
    fig = plot_raster(rec, sample=sample)
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.collections]
    assert len(axes) == len(rec.spikes)
    for ax, s in zip(axes, rec.spikes.values()):
        pts = scatter_offsets(ax)
        flat = s[:, sample].reshape(T, -1)
        assert len(pts) == int(flat.sum())
        expected = {(float(t), float(n)) for t, n in zip(*np.nonzero(flat.numpy()))}
        assert {(float(x), float(y)) for x, y in pts} == expected


def test_raster_time_window_dt_and_legacy_signature(rec: Record, tmp_path) -> None:  # type: ignore[no-untyped-def]
    t, n = raster_points(rec.spikes["conv1"], 2, time_window=(5, 12))
    flat = rec.spikes["conv1"][5:12, 2].reshape(7, -1)
    assert len(t) == int(flat.sum()) and int(t.min()) >= 5 and int(t.max()) < 12
    fig = plot_raster(rec.spikes, 1, ["fc1", "out"], 0.5, "title", tmp_path / "r.svg", time_window=(10, 20))
    assert (tmp_path / "r.svg").read_text().lstrip().startswith("<?xml")
    pts = scatter_offsets(fig.axes[0])
    assert len(pts) == int(rec.spikes["fc1"][10:20, 1].sum())
    assert np.all(pts[:, 0] >= 5.0) and np.all(pts[:, 0] < 10.0)  # steps 10..19 at dt = 0.5 ms
    with pytest.raises(ValueError, match="not recorded"):
        plot_raster(rec, layers=["nope"])
    with pytest.raises(ValueError, match="sample"):
        plot_raster(rec, sample=B)
    with pytest.raises(ValueError, match=".png or .svg"):
        plot_raster(rec, path=tmp_path / "r.jpg")


def test_raster_subsamples_large_layers_and_says_so(rec: Record) -> None:
    """A 10,000-neuron layer draws an evenly spaced 2,000 (at their own indices); small ones all."""
    g = torch.Generator().manual_seed(0)
    big = torch.rand(8, 1, 100, 100, generator=g) < 0.3  # [T, B, 10000]
    fig = plot_raster({"big": big, "fc1": rec.spikes["fc1"][:8, :1]}, title="t")
    big_ax, small_ax = [ax for ax in fig.axes if ax.collections]
    pts = scatter_offsets(big_ax)
    rows = np.unique(pts[:, 1])
    keep = shown_neurons(10_000)
    assert len(keep) == 2000 and int(keep[0]) == 0 and int(keep[-1]) == 9999 and len(set(keep.tolist())) == 2000
    assert len(rows) <= 2000 and set(rows.astype(int)) <= set(keep.tolist())
    flat = big[:, 0].reshape(8, -1)
    assert len(pts) == int(flat[:, keep].sum())  # every spike of the drawn neurons, none of the others
    assert "2000 of 10000\nneurons shown" in big_ax.get_ylabel()
    assert "subsampled" in fig.get_suptitle()
    assert "of" not in small_ax.get_ylabel() and len(scatter_offsets(small_ax)) == int(rec.spikes["fc1"][:8, 0].sum())
    all_pts = scatter_offsets([ax for ax in plot_raster({"big": big}, max_neurons=None).axes if ax.collections][0])
    assert len(all_pts) == int(flat.sum())
    with pytest.raises(ValueError, match="max_neurons"):
        plot_raster({"big": big}, max_neurons=1)


# --- rates ----------------------------------------------------------------------------------
def test_firing_rates_equal_counts_over_steps(rec: Record) -> None:
    rates = firing_rates(rec)
    assert list(rates) == list(rec.spikes)
    for name, s in rec.spikes.items():
        n = s[0, 0].numel()
        assert rates[name] == pytest.approx(int(s.sum()) / (T * B * n))
        assert neuron_rates(rec, name).flatten().numpy() == pytest.approx(
            (s.sum((0, 1)).double() / (T * B)).flatten().numpy()
        )
    hz = firing_rates(Record(rec.spikes, {}, dt=0.5), unit="hz")
    assert hz["conv1"] == pytest.approx(rates["conv1"] * 2000.0)
    counts = {k: v.sum((0, 1)) for k, v in rec.spikes.items()}
    assert rates_from_counts(counts, B, T) == pytest.approx(rates)
    with pytest.raises(ValueError, match="unit"):
        firing_rates(rec, unit="kHz")


def test_rate_bar_chart_heights_are_the_rates(rec: Record, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fig = plot_firing_rates(rec, path=tmp_path / "rates.png")
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx(list(firing_rates(rec).values()))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(rec.spikes)
    assert (tmp_path / "rates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = {"data": {"fc1": 0.2, "out": 0.05}, "max": {"fc1": 0.1, "out": 0.01}}  # one curve per norm
    ax = plot_firing_rates(runs).axes[0]
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.2, 0.05, 0.1, 0.01])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["data", "max"]
    report = {"timesteps": 50, "dt": 0.5, "spikes_per_neuron": {"data": {"fc1": 5.0}, "max": {"fc1": 2.0}}}
    nested = rates_from_report(report, "hz")
    assert list(nested) == ["data", "max"]
    assert nested["data"] == pytest.approx({"fc1": 200.0}) and nested["max"] == pytest.approx({"fc1": 80.0})
    assert rates_from_report({"timesteps": 10, "spikes_per_neuron": {"a": 1.0}}) == {"a": 0.1}
    assert rates_from_report({"spikes_per_neuron": {"a": 1.0}}) is None


def test_rate_histogram_counts_sum_to_neurons(rec: Record) -> None:
    data = rate_histogram_data(rec, bins=10)
    for name, (counts, edges) in data.items():
        assert counts.sum() == rec.spikes[name][0, 0].numel()
        assert len(edges) == 11 and edges[0] == 0.0 and edges[-1] == 1.0
    fig = plot_rate_histogram(rec, bins=10)
    for ax, (counts, _) in zip(fig.axes, data.values()):
        assert [p.get_height() for p in ax.patches] == list(counts)
    analog = Record({"x": torch.tensor([[[0.0, 3.0]], [[2.0, 3.0]]])}, {}, 1.0)  # currents, not spikes
    ((counts, edges),) = rate_histogram_data(analog, bins=4).values()
    assert counts.sum() == 2 and edges[-1] == 3.0


# --- traces ---------------------------------------------------------------------------------
def test_traces_plot_the_recorded_potentials(rec: Record, net) -> None:  # type: ignore[no-untyped-def]
    th = layer_thresholds(net)
    assert th == {"conv1": 0.5, "fc1": 0.5, "out": 0.5}
    fig = plot_traces(rec, ["fc1", "out"], neurons={"fc1": [0, 3, 7]}, sample=1, thresh=th)
    for ax, name in zip(fig.axes, ["fc1", "out"]):
        v = rec.voltages[name][:, 1].reshape(T, -1)
        traces = [ln for ln in ax.lines if (ln.get_gid() or "").startswith("trace:")]
        expect = [0, 3, 7] if name == "fc1" else list(range(5))  # layers of <= 10 neurons: all
        assert [int(ln.get_gid().split(":")[2]) for ln in traces] == expect
        for ln, i in zip(traces, expect):
            assert np.array_equal(ln.get_ydata(), v[:, i].numpy())
            assert np.array_equal(ln.get_xdata(), np.arange(T, dtype=float))
        (thr,) = [ln for ln in ax.lines if ln.get_gid() == "threshold"]
        assert list(thr.get_ydata()) == [0.5, 0.5]
    with pytest.raises(ValueError, match="no membrane potentials"):
        plot_traces(Record(rec.spikes, {}, 1.0))
    with pytest.raises(ValueError, match="out of range"):
        plot_traces(rec, "out", neurons=[5])


def test_traces_per_neuron_thresholds() -> None:
    """A layer with per-neuron thresholds (e.g. imported from NIR): layer_thresholds gives them as
    JSON-ready lists and each traced neuron's own threshold is drawn, its spike dots on it."""
    net = build_network(
        {
            "layers": [
                {"name": "in", "type": "input", "shape": [4]},
                {"name": "h", "type": "if", "thresh": [0.5, 1.0, 2.0, 1.0]},
            ],
            "connections": [{"source": "in", "target": "h", "ops": [{"op": "linear", "out_features": 4}]}],
        }
    )
    with torch.no_grad():
        net.connections[("in", "h")].layers[0].weight.fill_(0.3)
    th = layer_thresholds(net)
    assert th == {"h": [0.5, 1.0, 2.0, 1.0]}
    r = simulate(net, torch.ones(12, 1, 4), record_voltage=True)
    fig = plot_traces(r, "h", neurons=[0, 2], thresh=th)
    lines = {ln.get_gid(): ln for ln in fig.axes[0].lines}
    assert list(lines["threshold:h:0"].get_ydata()) == [0.5, 0.5]
    assert list(lines["threshold:h:2"].get_ydata()) == [2.0, 2.0]
    assert "threshold" not in lines and set(lines["spikes:h:2"].get_ydata()) == {2.0}
    shared = plot_traces(r, "h", neurons=[1, 3], thresh=th)  # equal thresholds: one line
    assert list({ln.get_gid(): ln for ln in shared.axes[0].lines}["threshold"].get_ydata()) == [1.0, 1.0]


def test_default_trace_neurons_are_the_most_active(rec: Record) -> None:
    fig = plot_traces(rec, "conv1", sample=0)
    picked = [int(ln.get_gid().split(":")[2]) for ln in fig.axes[0].lines if (ln.get_gid() or "").startswith("trace")]
    counts = rec.spikes["conv1"][:, 0].reshape(T, -1).sum(0)
    assert len(picked) == 3
    assert min(int(counts[i]) for i in picked) >= int(counts.sort(descending=True).values[2])
    assert not [ln for ln in fig.axes[0].lines if ln.get_gid() == "threshold"]  # no thresh given


# --- accuracy -------------------------------------------------------------------------------
def test_accuracy_curves_and_plot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    single = {"1": 0.1, "10": 0.5, "100": 0.9}
    assert accuracy_curves(single, "snn") == {"snn": {1: 0.1, 10: 0.5, 100: 0.9}}
    multi = {"max": {"10": 0.4, "100": 0.8}, "p99.9": {"10": 0.6, "100": 0.95}}
    fig = plot_accuracy_vs_time(multi, log_x=True, ann_accuracy=0.97, path=tmp_path / "acc.svg")
    ax = fig.axes[0]
    lines = {ln.get_gid(): ln for ln in ax.lines}
    assert np.array_equal(lines["run:max"].get_xdata(), [10, 100])
    assert lines["run:p99.9"].get_ydata() == pytest.approx([60.0, 95.0])
    assert list(lines["ann"].get_ydata()) == pytest.approx([97.0, 97.0])
    assert ax.get_xscale() == "log" and (tmp_path / "acc.svg").exists()
    for bad in (None, {}, {"x": 0.5}, {"0": 0.5}):
        with pytest.raises(ValueError):
            accuracy_curves(bad)


# --- first-spike times ----------------------------------------------------------------------
def test_first_spike_times_match_a_loop(rec: Record) -> None:
    ft = first_spike_times(rec, "conv1")
    s = rec.spikes["conv1"].reshape(T, B, -1)
    assert ft.shape == (B, 4, 6, 6)
    flat = ft.reshape(B, -1)
    for b in range(B):
        for i in range(0, s.shape[2], 7):
            hits = s[:, b, i].nonzero()
            assert flat[b, i] == (float(hits[0]) if len(hits) else math.inf)
    data = ttfs_histogram_data(rec)
    counts, edges, silent = data["conv1"]
    assert counts.sum() == int(torch.isfinite(ft).sum()) and silent == int(torch.isinf(ft).sum())
    assert len(counts) == T
    assert np.array_equal(counts, np.bincount(ft[torch.isfinite(ft)].long().numpy(), minlength=T))
    fig = plot_first_spike_times(rec, ["conv1", "out"])
    assert [p.get_height() for p in fig.axes[0].patches] == list(counts)


# --- confusion ------------------------------------------------------------------------------
def test_confusion_matrix_sums_to_samples(rec: Record) -> None:
    pred = rec.predict("out", "spikes")
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    cm = confusion_matrix(pred, labels, 5)
    assert cm.shape == (5, 5) and int(cm.sum()) == B
    assert int(cm.trace()) == int((pred == labels).sum())
    for p, y in zip(pred.tolist(), labels.tolist()):
        assert cm[y, p] >= 1
    assert confusion_matrix([1, 1, 0], [1, 0, 0], 2).tolist() == [[1, 1], [0, 1]]
    fig = plot_confusion_matrix(cm)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 25 and sum(int(t) for t in texts) == B
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        confusion_matrix([5], [0], 5)
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix([1, 2], [0], 5)
    with pytest.raises(TypeError, match="integer"):
        confusion_matrix(torch.tensor([0.5]), [0], 5)


# --- viewer ---------------------------------------------------------------------------------
def _expected_points(rec: Record, viewer: RasterViewer, sample: int, t0: int, t1: int, layers) -> np.ndarray:  # type: ignore[no-untyped-def]
    bands = viewer.bands()
    pts = []
    for name in layers:
        top, h = bands[name]
        size = rec.spikes[name][0, 0].numel()
        flat = rec.spikes[name][t0:t1, sample].reshape(t1 - t0, -1)
        for t, n in zip(*np.nonzero(flat.numpy())):
            pts.append(((t + t0) * rec.dt, top + (n + 0.5) * h / size))
    return np.array(pts).reshape(-1, 2)


def test_viewer_slider_moves_the_drawn_data(rec: Record, tmp_path) -> None:  # type: ignore[no-untyped-def]
    labels = torch.arange(B)
    v = RasterViewer(rec, labels)
    try:
        names = list(rec.spikes)
        before = v.offsets().copy()
        assert np.allclose(before, _expected_points(rec, v, 0, 0, T, names))
        v.sample_slider.set_val(3)  # as a drag of the slider would
        after = v.offsets()
        assert v.sample == 3 and not np.array_equal(before, after)
        assert np.allclose(after, _expected_points(rec, v, 3, 0, T, names))
        assert "label 3" in v.ax.get_title()
        v.time_slider.set_val((5, 15))
        assert np.allclose(v.offsets(), _expected_points(rec, v, 3, 5, 15, names))
        assert len(v.points()) == len(v.offsets())
        v.set_layers(["fc1", "out"])
        assert v.checks.get_status() == [False, False, True, True]
        assert np.allclose(v.offsets(), _expected_points(rec, v, 3, 5, 15, ["fc1", "out"]))
        v.checks.set_active(0)  # a click on the "input" box
        assert v.selected == ["input", "fc1", "out"]
        v.save(tmp_path / "view.png")
        assert (tmp_path / "view.png").stat().st_size > 1000
    finally:
        v.close()


def test_viewer_keys(rec: Record) -> None:
    v = RasterViewer(rec, window=(0, 10))
    try:
        v.key("right")
        assert (v.t0, v.t1) == (10, 20)
        v.key("right"), v.key("right")
        assert (v.t0, v.t1) == (20, 30)  # clamped at the end
        v.key("left")
        assert (v.t0, v.t1) == (10, 20)
        v.key("up")
        assert v.sample == 1 and int(v.sample_slider.val) == 1
        v.key("down"), v.key("down")
        assert v.sample == 0
        canvas = v.fig.canvas
        canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", canvas, "up"))
        assert v.sample == 1
        assert np.allclose(v.offsets(), _expected_points(rec, v, 1, 10, 20, list(rec.spikes)))
        v.key("home")
        assert (v.t0, v.t1) == (0, T)
        with pytest.raises(ValueError, match="sample"):
            v.set_sample(B)
        with pytest.raises(ValueError, match="time window"):
            v.set_time_window(5, 5)
        with pytest.raises(ValueError, match="key"):
            v.key("pagedown")
    finally:
        v.close()

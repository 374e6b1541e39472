"""Bounded-memory BPTT (issue 17 item 5): checkpointed segments give full BPTT's spikes and gradients."""

from __future__ import annotations

import json
import math

import pytest
import torch

from networks import fc, fc_spec
from snnsim.core.nodes import LIFNeurons
from snnsim.core.spec import build_network
from snnsim.core.surrogate import ArcTan, LeePseudo
from snnsim.engine import bptt_segments, forward
from snnsim.engine.segments import segmented_forward
from snnsim.errors import UserError
from snnsim.methods.fastsnn.nodes import FastLIFNeurons, PeakIntegrator
from snnsim.methods.fastsnn.rule import FastSNNRule, LIFRule
from snnsim.methods.spikebp.rule import insert_ops
from snnsim.training.trainer import TrainConfig

T, B = 23, 3


def _net(neuron: str = "lif", reset: str = "subtract", output: str = "spiking", leak: float = 0.9):
    torch.manual_seed(0)
    net = fc([20, 16, 12, 4], neuron=neuron, reset=reset, output=output, leak=leak, thresh=0.5)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)  # fire often enough for spikes to matter
    for layer in list(net.layers.values())[1:]:
        layer.surrogate = ArcTan(2.0)
    return net


def _input(t: int = T) -> torch.Tensor:
    return torch.rand((t, B, 20), generator=torch.Generator().manual_seed(1)) < 0.3


def _loss_and_grads(net, x, segment):
    out = list(net.layers)[-1]
    rec = forward(net, x, segment=segment)
    w = torch.linspace(-1, 1, rec.spikes[out][0].numel()).reshape(rec.spikes[out][0].shape)
    loss = (rec.spikes[out].float().sum(0) * w).sum() + rec.voltages[out].square().mean()
    params = [p for p in net.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params)
    return rec, loss.detach(), grads


@pytest.mark.parametrize(
    "neuron,reset,output", [("lif", "subtract", "spiking"), ("lif", "zero", "spiking"), ("if", "zero", "integrator")]
)
@pytest.mark.parametrize("segment", [1, 5, 22])
def test_checkpointed_segments_equal_full_bptt(neuron, reset, output, segment):
    net, x = _net(neuron, reset, output), _input()
    full, loss_full, g_full = _loss_and_grads(net, x, None)
    seg, loss_seg, g_seg = _loss_and_grads(net, x, segment)
    assert full.spikes[list(net.layers)[1]].sum() > 0
    for name in net.layers:
        assert torch.equal(seg.spikes[name].bool(), full.spikes[name].bool()), name
    out = list(net.layers)[-1]
    assert torch.equal(seg.voltages[out], full.voltages[out])
    assert torch.equal(loss_seg, loss_full)
    for a, b in zip(g_seg, g_full):
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_carried_potential_resumes_the_run():
    """multi_step(v0=...) on the second half continues the first half exactly (with and without grad)."""
    net = _net()
    layer = net.layers[list(net.layers)[1]]
    cur = torch.randn(T, B, 16, generator=torch.Generator().manual_seed(2)) * 0.6
    for grad in (False, True):
        c = cur.clone().requires_grad_(grad)
        s, v = layer.multi_step(c, record_voltage=True)
        s1, v1 = layer.multi_step(c[:10], record_voltage=True)
        s2, v2 = layer.multi_step(c[10:], record_voltage=True, v0=v1[-1])
        assert torch.equal(torch.cat([s1, s2]), s) and torch.equal(torch.cat([v1, v2]), v)


def test_forward_under_a_trainer_context_uses_segments():
    net, x = _net(), _input()
    with bptt_segments(4):
        rec = forward(net, x)
    assert rec.spikes["fc1"].dtype == torch.bool and rec.spikes["out"].requires_grad  # segmented: hidden as bool
    assert forward(net, x).spikes["fc1"].dtype == torch.float32  # whole run outside the context
    with torch.no_grad(), bptt_segments(4):
        assert torch.equal(forward(net, x).spikes["out"], rec.spikes["out"].bool())


def test_segment_refusals():
    net, x = _net(), _input()
    for bad in (0, -3, 2.5, True):
        with pytest.raises(UserError, match="segment"):
            forward(net, x, segment=bad)
    with pytest.raises(UserError, match="bptt_segment"):
        TrainConfig(bptt_segment=0).check()
    net.layers["fc1"].surrogate = LeePseudo()
    with pytest.raises(UserError, match="LeePseudo, which reads whole spike trains .*per-step surrogates"):
        forward(net, x, segment=5)
    bn = build_network(insert_ops(fc_spec([20, 16, 4], neuron="lif"), 0.0, True))
    bn.train()
    with pytest.raises(UserError, match="BatchNorm.*batch statistics over all T"):
        forward(bn, x, segment=5)
    bn.eval()  # running statistics: per-step, accepted
    assert forward(bn, x, segment=5).spikes["out"].requires_grad


def test_cli_bptt_segment_trains_the_lif_rule(tmp_path, monkeypatch):
    """``snnsim train --method lif --bptt-segment 5``: the peak read-out is carried, so a tiny epoch
    runs, and the rule's forward passes go through the checkpointed segments."""
    import snnsim.engine
    from snnsim.cli import main
    from snnsim.cli.parsers import build_parser

    args = build_parser().parse_args(["train", "--method", "lif", "--bptt-segment", "7", "--out", "x"])
    assert args.bptt_segment == 7
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--method", "lif", "--bptt-segment", "0", "--out", "x"])
    calls = []

    def counted(*a, **k):
        calls.append(a[3])
        return segmented_forward(*a, **k)

    monkeypatch.setattr(snnsim.engine, "segmented_forward", counted)
    out = tmp_path / "r"
    assert (
        main(
            [
                "train",
                "--method",
                "lif",
                "--epochs",
                "1",
                "--dataset",
                "digits",
                "-T",
                "12",
                "--limit",
                "16",
                "--no-progress",
                "--bptt-segment",
                "5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert calls and set(calls) == {5}
    report = json.loads((out / "report.json").read_text())
    assert len(report["epochs"]) == 1 and math.isfinite(report["epochs"][0]["train_loss"])


# --- the segment protocol beyond the potential: FastSNN's peak read-out and single-spike layers ---------------


def _peak_net(t: int):
    """A small lif-rule net (latency input - LIF 16 - peak_integrator 4) and its input ``[t, B, 1, 6, 6]``."""
    torch.manual_seed(0)
    rule = LIFRule(t, hidden=(16,), weight_gain=8.0)
    net = rule.build("fc", (1, 6, 6), 4)
    x = rule.encode(torch.rand((B, 1, 6, 6), generator=torch.Generator().manual_seed(3)))
    return rule, net, x


def _rule_loss_and_grads(rule, net, x, segment):
    with bptt_segments(segment):
        peak = rule.outputs(net, x)
    loss = rule.loss(peak, torch.arange(B) % 4)
    params = [p for p in net.parameters() if p.requires_grad]
    return peak.detach(), loss.detach(), torch.autograd.grad(loss, params)


@pytest.mark.parametrize("segment", [1, 3, T])
def test_peak_readout_segments_equal_full_bptt(segment):
    """LIF -> PeakIntegrator (the lif rule), T = 23 not a multiple of 3: outputs and loss bit-identical,
    gradients within rtol 1e-5, atol 1e-6 (float32; the sums are regrouped by segment)."""
    rule, net, x = _peak_net(T)
    assert isinstance(net.layers["out"], PeakIntegrator)
    full_peak, full_loss, full_g = _rule_loss_and_grads(rule, net, x, None)
    seg_peak, seg_loss, seg_g = _rule_loss_and_grads(rule, net, x, segment)
    assert forward(net, x).spikes["fc1"].sum() > 0
    assert torch.equal(seg_peak, full_peak) and torch.equal(seg_loss, full_loss)
    full = forward(net, x, record_voltage=["fc1", "out"])
    # K = T: forward runs whole; the single checkpointed segment is called directly
    seg = segmented_forward(net, {"input": x}, ["fc1", "out"], segment)
    for name in ("fc1", "out"):
        assert torch.equal(seg.voltages[name], full.voltages[name]), name
        assert torch.equal(seg.spikes[name].bool(), full.spikes[name].bool()), name
    for a, b in zip(seg_g, full_g):
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_peak_carry_sends_tied_maxima_to_the_later_step_as_cummax():
    """Ties of the running max across a segment boundary: the gradient goes where the whole run's
    cummax sends it (the latest step holding the max), exactly (integer sums); torch.maximum would
    split it in halves."""
    layer = PeakIntegrator(2, leak=1.0)
    cur = torch.tensor(
        [[1.0, 2.0], [0.0, 0.0], [0.0, -2.0], [0.0, 2.0], [-1.0, 0.0], [1.0, 0.0], [0.0, -1.0]]
    ).unsqueeze(1)
    weights = torch.arange(1.0, 8.0).view(7, 1, 1)
    c = cur.clone().requires_grad_(True)
    (layer.multi_step(c, record_voltage=True)[1] * weights).sum().backward()
    for k in (1, 2, 3):
        cs = cur.clone().requires_grad_(True)
        carry, peaks = None, []
        for t0 in range(0, 7, k):
            _, peak, carry = layer.segment_run(cs[t0 : t0 + k], carry, record_voltage=True)
            peaks.append(peak)
        (torch.cat(peaks) * weights).sum().backward()
        assert torch.equal(torch.cat(peaks), layer.multi_step(cur, record_voltage=True)[1])
        assert torch.equal(cs.grad, c.grad), k


def test_single_spike_layers_carry_fired_with_sequential_grad():
    """fastlif (grad="sequential") in segments: a neuron that fired stays silent though its no-reset
    potential crosses again; spikes, potentials and gradients as the whole run (rtol 1e-5, atol 1e-6)."""
    layer = FastLIFNeurons(3, leak=0.8, thresh=1.0, grad="sequential")
    cur = torch.tensor(
        [
            [1.5, 0.2, 0.0],
            [-3.0, 0.3, 0.1],
            [0.0, 0.2, 0.0],
            [3.0, 0.4, 0.2],
            [0.0, 0.3, 0.3],
            [0.0, 0.5, 0.0],
            [0.0, 0.1, 0.9],
        ]
    ).unsqueeze(1)
    c = cur.clone().requires_grad_(True)
    s_full, _ = layer.multi_step(c)
    v_full = layer.multi_step(cur, record_voltage=True)[1]
    (s_full * torch.arange(1.0, 8.0).view(7, 1, 1)).sum().backward()
    assert s_full.sum(0).tolist() == [[1.0, 1.0, 1.0]] and (v_full[3:, 0, 0] >= 1).any()  # neuron 0 crosses again
    for k in (1, 2, 3):
        cs = cur.clone().requires_grad_(True)
        carry, spikes, volts = None, [], []
        for t0 in range(0, 7, k):
            s, v, carry = layer.segment_run(cs[t0 : t0 + k], carry, record_voltage=True)
            spikes.append(s)
            volts.append(v)
        (torch.cat(spikes) * torch.arange(1.0, 8.0).view(7, 1, 1)).sum().backward()
        assert torch.equal(torch.cat(spikes), s_full.detach()) and torch.equal(torch.cat(volts), v_full)
        torch.testing.assert_close(cs.grad, c.grad, rtol=1e-5, atol=1e-6)


def test_fastsnn_net_in_segments_needs_sequential_grad():
    """The fastsnn rule's single-spike layers: refused with the paper's trick (its derivative reads all
    later steps up to the spike), exact with grad="sequential"."""
    torch.manual_seed(0)
    x = LIFRule(T).encode(torch.rand((B, 1, 6, 6), generator=torch.Generator().manual_seed(3)))
    with pytest.raises(UserError, match="FastLIFNeurons.*grad='trick'.*all later steps"):
        forward(FastSNNRule(T, hidden=(16,), grad="trick").build("fc", (1, 6, 6), 4), x, segment=5)
    torch.manual_seed(0)
    rule = FastSNNRule(T, hidden=(16,), grad="sequential", weight_gain=8.0)
    net = rule.build("fc", (1, 6, 6), 4)
    full_peak, full_loss, full_g = _rule_loss_and_grads(rule, net, x, None)
    seg_peak, seg_loss, seg_g = _rule_loss_and_grads(rule, net, x, 5)
    assert forward(net, x).spikes["fc1"].sum() > 0
    assert torch.equal(seg_peak, full_peak) and torch.equal(seg_loss, full_loss)
    for a, b in zip(seg_g, full_g):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_subclass_with_its_own_multi_step_but_no_protocol_is_refused():
    class Odd(LIFNeurons):
        def multi_step(self, current, record_voltage=False):
            return super().multi_step(current, record_voltage)

    net = _net()
    odd = Odd(12, leak=0.9)
    net.layers["fc2"].__class__ = Odd
    with pytest.raises(UserError, match="'fc2' \\(Odd\\) overrides multi_step without the segment protocol"):
        forward(net, _input(), segment=5)
    assert odd.segment_refusal() is not None and LIFNeurons(3).segment_refusal() is None

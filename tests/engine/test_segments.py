"""Bounded-memory BPTT (issue 17 item 5): checkpointed segments give full BPTT's spikes and gradients."""
from __future__ import annotations

import pytest
import torch

from networks import fc, fc_spec
from snnsim.core.spec import build_network
from snnsim.core.surrogate import ArcTan, LeePseudo
from snnsim.engine import bptt_segments, forward
from snnsim.errors import UserError
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


@pytest.mark.parametrize("neuron,reset,output", [("lif", "subtract", "spiking"), ("lif", "zero", "spiking"),
                                                 ("if", "zero", "integrator")])
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
    with pytest.raises(UserError, match="per-step surrogates"):
        forward(net, x, segment=5)
    bn = build_network(insert_ops(fc_spec([20, 16, 4], neuron="lif"), 0.0, True))
    bn.train()
    with pytest.raises(UserError, match="BatchNorm"):
        forward(bn, x, segment=5)
    bn.eval()  # running statistics: per-step, accepted
    assert forward(bn, x, segment=5).spikes["out"].requires_grad


def test_cli_bptt_segment_reaches_the_trainer(tmp_path, capsys):
    """``snnsim train --bptt-segment K`` sets TrainConfig.bptt_segment; the lif rule's peak read-out
    carries more state than a potential, so its network is refused with one line (exit 2)."""
    from snnsim.cli import main
    from snnsim.cli.parsers import build_parser

    args = build_parser().parse_args(["train", "--method", "lif", "--bptt-segment", "7", "--out", "x"])
    assert args.bptt_segment == 7
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--method", "lif", "--bptt-segment", "0", "--out", "x"])
    assert main(["train", "--method", "lif", "--hidden", "8", "--epochs", "1", "--dataset", "digits",
                 "--limit", "16", "--no-progress", "--bptt-segment", "7", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "segmented BPTT" in err[-1] and "PeakIntegrator" in err[-1]

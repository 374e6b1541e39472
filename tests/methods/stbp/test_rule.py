"""Rule stbp-tdbn: STBP LIF settings, surrogate centred at V_th, BPTT through the reset,
direct coding, mean-output read-out, and the CLI end to end (folded checkpoint)."""

import json

import pytest
import torch

from snnsim.cli import main
from snnsim.core.io import load_network, read_meta
from snnsim.core.nodes import LIFNeurons
from snnsim.core.surrogate import Rectangular
from snnsim.engine import forward
from snnsim.methods.stbp.tdbn import has_batchnorm
from snnsim.training import RULES, get_rule

pytestmark = pytest.mark.usefixtures("one_thread")


def _stbp_layer(shape, a=1.0):
    layer = LIFNeurons(shape=shape, leak=0.25, thresh=0.4, reset="zero")
    rule = get_rule("stbp-tdbn")
    net = type("N", (), {"layers": {"l": layer}})()
    rule.prepare(net)
    if a != 1.0:
        layer.surrogate = Rectangular(a)
    return layer


def test_rule_settings():
    assert "stbp-tdbn" in RULES
    rule = get_rule("stbp-tdbn", timesteps=4, width=0.0625)
    net = rule.build("resnet19", (1, 28, 28), 10)
    lifs = [layer for layer in net.layers.values() if isinstance(layer, LIFNeurons)]
    assert len(lifs) == 18  # conv1 + 8 blocks x 2 + fc1
    for layer in lifs:
        p = layer.params
        assert (p.leak, p.thresh, p.reset, p.v_reset) == (0.25, 0.4, "zero", 0.0)
        assert layer.surrogate == Rectangular(1.0) and layer.detach_reset is False
    x = torch.rand(3, 1, 28, 28)
    enc = rule.encode(x)
    assert enc.shape == (4, 3, 1, 28, 28) and all(torch.equal(enc[t], x) for t in range(4))
    assert rule.encoder_config() == {"encoder": "current", "timesteps": 4}
    with pytest.raises(ValueError, match="supports nets"):
        rule.build("lenet", (1, 28, 28), 10)
    for bad in ({"width": 0}, {"leak": 1.5}, {"surrogate_width": -1}, {"fc_hidden": 0}, {"timesteps": 0}):
        with pytest.raises(ValueError):
            get_rule("stbp-tdbn", **bad)


def test_surrogate_is_centred_at_the_threshold():
    """One step: ds/dx = 1/a for |x - V_th| < a/2, else 0 (not centred at 0)."""
    layer = _stbp_layer([6])
    x = torch.tensor([[[-0.2, 0.0, 0.35, 0.85, 0.95, -0.05]]], requires_grad=True)  # [T=1, B=1, 6]
    s, _ = layer.multi_step(x)
    s.sum().backward()
    assert x.grad.flatten().tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 1.0]
    layer = _stbp_layer([2], a=0.5)
    x = torch.tensor([[[0.1, 0.2]]], requires_grad=True)
    layer.multi_step(x)[0].sum().backward()
    assert x.grad.flatten().tolist() == [0.0, 2.0]  # |0.2 - 0.4| < 0.25 -> 1/a


class _Spike(torch.autograd.Function):
    """Heaviside at V_th = 0.4 with the rectangular surrogate of width 1 (reference)."""

    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return (u >= 0.4).float()

    @staticmethod
    def backward(ctx, g):
        (u,) = ctx.saved_tensors
        return g * ((u - 0.4).abs() < 0.5).float()


def test_stbp_recurrence_and_bptt_through_the_reset():
    """The layer equals u[t+1] = tau u[t] (1 - o[t]) + x[t+1] written out with autograd,
    in spikes and in input gradients (gradient also through (1 - o))."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(6, 4, 10, generator=g) * 0.8).requires_grad_()
    w = torch.randn(6, 4, 10, generator=g)
    layer = _stbp_layer([10])
    s, _ = layer.multi_step(x)
    (s * w).sum().backward()
    x_ref = x.detach().clone().requires_grad_()
    u, o, outs = torch.zeros(4, 10), torch.zeros(4, 10), []
    for t in range(6):
        u = 0.25 * u * (1 - o) + x_ref[t]
        o = _Spike.apply(u)
        outs.append(o)
    s_ref = torch.stack(outs)
    (s_ref * w).sum().backward()
    assert torch.equal(s, s_ref)
    assert 0.05 < float(s.detach().mean()) < 0.95
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-6)
    layer.detach_reset = True  # sanity: dropping the reset path changes the gradient
    x2 = x.detach().clone().requires_grad_()
    (layer.multi_step(x2)[0] * w).sum().backward()
    assert not torch.allclose(x2.grad, x_ref.grad, atol=1e-6)


def test_readout_is_mean_over_T_of_the_last_fc():
    torch.manual_seed(0)
    rule = get_rule("stbp-tdbn", timesteps=3, width=0.0625)
    net = rule.build("resnet19", (1, 28, 28), 10)
    net.train(False)
    inputs = rule.encode(torch.rand(2, 1, 28, 28))
    with torch.no_grad():
        out = rule.outputs(net, inputs)
        rec = forward(net, inputs, record_voltage=["fc1"])
        fc = net.connections[("fc1", "out")].compute_multi(rec.spikes["fc1"])
    assert torch.allclose(out, fc.mean(0), atol=1e-6)
    assert rule.loss(out, torch.tensor([1, 2])).item() > 0


def test_cli_end_to_end_checkpoint_is_folded(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--method",
                "stbp-tdbn",
                "--net",
                "resnet19",
                "--set",
                "width=0.0625",
                "--timesteps",
                "2",
                "--dataset",
                "digits",
                "--limit",
                "48",
                "--epochs",
                "1",
                "--batch-size",
                "16",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["rule"]["width"] == 0.0625 and report["encoder"]["encoder"] == "current"
    ckpt = out / "checkpoint"
    ops = {o["op"] for c in read_meta(ckpt)["spec"]["connections"] for o in c["ops"]}
    assert "tdbn" not in ops and "identity" in ops
    assert not has_batchnorm(load_network(ckpt)) and has_batchnorm(load_network(ckpt / "training"))
    sim = tmp_path / "bindsnet"  # the folded checkpoint runs in BindsNET's engine
    assert (
        main(
            [
                "simulate",
                "--checkpoint",
                str(ckpt),
                "--engine",
                "bindsnet",
                "--dataset",
                "digits",
                "--limit",
                "48",
                "--out",
                str(sim),
                "--no-progress",
            ]
        )
        == 0
    )
    rep = json.loads((sim / "report.json").read_text())
    assert rep["timesteps"] == 2 and rep["encoder"] == "current"
    assert rep["accuracy"] == pytest.approx(report["simulated_accuracy"])  # = the fast engine's
    # snnsim fold on the training network: same folding, mismatch report, firing-rate plot
    fold = tmp_path / "fold"
    assert (
        main(
            [
                "fold",
                "--checkpoint",
                str(ckpt / "training"),
                "--dataset",
                "digits",
                "--limit",
                "8",
                "--out",
                str(fold),
                "--no-progress",
            ]
        )
        == 0
    )
    rep = json.loads((fold / "report.json").read_text())
    assert sum(rep["spike_mismatches_fast_vs_bindsnet"].values()) == 0
    assert sum(rep["spike_mismatches_folded_vs_unfolded"].values()) <= 1e-4 * rep["neuron_steps"]
    assert rep["prediction_mismatches_folded_vs_unfolded"] <= 1
    assert (fold / "firing_rates.png").stat().st_size > 1000
    assert "fc1" in rep["firing_rates_sample"]["rates"]
    assert (fold / "checkpoint" / "network.json").is_file()


@pytest.mark.slow
def test_stbp_tdbn_learns_digits():
    from snnsim.data.datasets import load_dataset
    from snnsim.training.trainer import TrainConfig, fit

    torch.manual_seed(0)
    data = load_dataset("digits")
    rule = get_rule("stbp-tdbn", timesteps=2, width=0.0625)
    net = rule.build("resnet19", data.input_shape, data.num_classes)
    net, summary = fit(rule, net, data, TrainConfig(epochs=4, batch_size=32, lr=2e-3), progress=False)
    assert summary["final_accuracy"] > 0.8
    assert not has_batchnorm(net)  # fit returns the exported (folded) network

"""Spike-based backpropagation (Lee et al. 2020): the rule ``spikebp``."""

import pytest
import torch

from snnsim.data.datasets import load_dataset
from snnsim.methods.spikebp.rule import SpikeBP
from snnsim.training import get_rule
from snnsim.training.trainer import TrainConfig, fit


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_spikebp_training_lowers_loss_and_beats_chance(digits):
    torch.manual_seed(0)
    rule = SpikeBP(timesteps=15, hidden=(100,))
    net = rule.build("fc", digits.input_shape, digits.num_classes)
    net, summary = fit(rule, net, digits, TrainConfig(epochs=4, batch_size=32, lr=2e-3), progress=False)
    hist = summary["history"]
    assert hist[-1]["train_loss"] < 0.6 * hist[0]["train_loss"]
    assert summary["final_accuracy"] > 0.6  # chance is 0.1


def test_gradients_reach_every_layer_of_lenet(digits):
    rule = SpikeBP(timesteps=8, batchnorm=True)
    net = rule.build("lenet", digits.input_shape, digits.num_classes)
    x, y = digits.train.x[:6], digits.train.y[:6]
    loss = rule.loss(rule.outputs(net, rule.encode(x)), y)
    loss.backward()
    for (src, tgt), conn in net.connections.items():
        for m in conn.weighted:
            assert m.weight.grad is not None and m.weight.grad.abs().sum() > 0, f"no gradient into {src}->{tgt}"


def test_spikebp_settings():
    rule = SpikeBP(timesteps=10)
    net = rule.build("fc", (1, 28, 28), 10)
    assert [type(layer).__name__ for layer in net.layers.values()] == ["Input", "LIFNeurons", "Integrator"]
    assert net.layers["fc1"].params.leak == 0.99 and net.layers["fc1"].params.reset == "zero"
    assert net.layers["out"].params.leak == 1.0
    assert net.connections[("fc1", "out")].ops[0] == {"op": "dropout", "p": 0.2}
    x = torch.full((2000, 1, 1, 1), 0.6)
    assert rule.encode(x).float().mean().item() == pytest.approx(0.3, abs=0.01)  # p = x / 2
    with pytest.raises(ValueError, match="supports nets"):
        rule.build("scnn", (1, 28, 28), 10)
    with pytest.raises(ValueError, match="unknown method"):
        get_rule("hebb")


def test_mse_loss_by_hand():
    rule = SpikeBP(timesteps=5)
    out = torch.tensor([[0.5, 0.2], [0.1, 0.9]])
    y = torch.tensor([0, 1])
    # 0.5 * ((0.5-1)^2 + 0.2^2) = 0.145 ; 0.5 * (0.1^2 + (0.9-1)^2) = 0.01 ; mean 0.0775
    assert rule.loss(out, y).item() == pytest.approx(0.0775)


def test_eval_timesteps_lengthen_evaluation_only(digits):
    """eval_timesteps sets T of calls without autograd (evaluation and the saved encoder);
    training keeps timesteps; bad values are refused."""
    rule = SpikeBP(timesteps=6, eval_timesteps=15, hidden=(20,))
    x = digits.train.x[:4]
    assert rule.encode(x).shape[0] == 6
    with torch.no_grad():
        assert rule.encode(x).shape[0] == 15
    assert SpikeBP(timesteps=6).encode(x).shape[0] == 6
    assert rule.encoder_config()["timesteps"] == 15 and rule.config()["eval_timesteps"] == 15
    net = rule.build("fc", digits.input_shape, digits.num_classes)
    with torch.no_grad():
        assert rule.outputs(net, rule.encode(x)).shape == (4, digits.num_classes)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="eval_timesteps"):
            SpikeBP(timesteps=6, eval_timesteps=bad)

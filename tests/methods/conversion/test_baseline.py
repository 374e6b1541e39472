"""The global threshold of ``convert`` and the tuned unnormalised baseline."""

import copy

import pytest
import torch
from torch import nn

from snnsim.data.datasets import Split
from snnsim.engine import simulate
from snnsim.methods.conversion import convert
from snnsim.methods.conversion.baseline import poisson_for_rate, tune_unnormalised
from tests.helpers import poisson_input


def _mlp(seed: int = 0, bias: bool = False) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(20, 30, bias=bias),
        nn.ReLU(),
        nn.Linear(30, 16, bias=bias),
        nn.ReLU(),
        nn.Linear(16, 4, bias=bias),
        nn.ReLU(),
    )


def _scaled(ann: nn.Sequential, c: float) -> nn.Sequential:
    """Every Linear's weight and bias times ``c`` (a copy)."""
    out = copy.deepcopy(ann)
    with torch.no_grad():
        for m in out:
            if isinstance(m, nn.Linear):
                m.weight.mul_(c)
                if m.bias is not None:
                    m.bias.mul_(c)
    return out


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("bias", [False, True])
def test_global_threshold_equals_dividing_every_layer(reset, bias):
    """Spikes are 0/1, so threshold theta in every layer is the net with each layer's
    weights (and biases) divided by theta. theta = 4 makes the products exact."""
    ann = _mlp(1, bias=bias)
    with torch.no_grad():
        for m in ann:
            if isinstance(m, nn.Linear):
                m.weight.mul_(6.0)  # over-excited at threshold 1: the threshold must matter
    conv = convert(ann, norm="none", reset=reset, input_shape=(20,), threshold=4.0)
    assert set(conv.thresholds.values()) == {4.0}
    ref = convert(_scaled(ann, 0.25), norm="none", reset=reset, input_shape=(20,))
    plain = convert(ann, norm="none", reset=reset, input_shape=(20,))
    x = poisson_input((40, 6, 20), 0.4, seed=2)
    a, b, c = simulate(conv.network, x), simulate(ref.network, x), simulate(plain.network, x)
    for name in ("fc1", "fc2", "out"):
        assert a.spikes[name].any(), name
        assert torch.equal(a.spikes[name], b.spikes[name]), name
    assert any(not torch.equal(a.spikes[n], c.spikes[n]) for n in ("fc1", "fc2", "out"))


def test_threshold_multiplies_threshold_balancing():
    ann = _mlp(2)
    data = torch.rand(100, 20)
    base = convert(ann, norm="data", data=data, threshold_balancing=True)
    t2 = convert(ann, norm="data", data=data, threshold_balancing=True, threshold=2.0)
    w2 = convert(ann, norm="data", data=data, threshold=2.0)
    assert list(t2.thresholds.values()) == pytest.approx([2 * t for t in base.thresholds.values()])
    assert set(w2.thresholds.values()) == {2.0}


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan"), True, "2"])
def test_threshold_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="threshold"):
        convert(_mlp(), norm="none", input_shape=(20,), threshold=bad)


def _toy_task(n: int = 120) -> tuple[nn.Sequential, Split]:
    """A 20-16-4 ReLU net whose layers are far too strong for threshold 1, and labels
    given by the net itself (so its ANN accuracy is 100%)."""
    torch.manual_seed(3)
    ann = nn.Sequential(nn.Flatten(), nn.Linear(20, 16, bias=False), nn.ReLU(), nn.Linear(16, 4, bias=False), nn.ReLU())
    with torch.no_grad():
        ann[1].weight.mul_(20.0)
        ann[3].weight.mul_(20.0)
        x = torch.rand(n, 1, 4, 5, generator=torch.Generator().manual_seed(4))
        y = ann(x).argmax(1)
    return ann, Split(x, y)


def test_tune_unnormalised_scores_the_grid_and_picks_the_best():
    ann, split = _toy_task()
    search = tune_unnormalised(
        ann,
        split,
        40,
        thresholds=(1.0, 8.0, 32.0),
        max_rates=(500.0, 1000.0),
        input_shape=(1, 4, 5),
        batch_size=200,
        progress=False,
    )
    assert [(p.threshold, p.max_rate) for p in search.points] == [
        (1.0, 500.0),
        (1.0, 1000.0),
        (8.0, 500.0),
        (8.0, 1000.0),
        (32.0, 500.0),
        (32.0, 1000.0),
    ]
    best_acc = max(p.accuracy for p in search.points)
    assert search.best.accuracy == best_acc
    ties = [p for p in search.points if p.accuracy == best_acc]
    assert search.best.steps_to_90pct == min(p.steps_to_90pct for p in ties)
    # the over-excited net saturates at threshold 1; a higher threshold must win
    assert search.best.threshold > 1.0
    assert search.best.accuracy > next(p.accuracy for p in search.points if p.threshold == 1.0)
    assert set(search.conversion.thresholds.values()) == {search.best.threshold}
    # each point is a plain simulation: rerun the chosen pair by hand and compare
    enc = poisson_for_rate(0)(search.best.max_rate)
    x = enc(split.x, 40)
    rec = simulate(search.conversion.network, x)
    pred = rec.spikes["out"].sum(0).reshape(len(split), -1).argmax(1)
    assert (pred == split.y).float().mean().item() == pytest.approx(search.best.accuracy)


def test_tune_unnormalised_rejects_bad_grids():
    ann, split = _toy_task(10)
    with pytest.raises(ValueError, match="thresholds"):
        tune_unnormalised(ann, split, 5, thresholds=(), input_shape=(1, 4, 5), progress=False)
    with pytest.raises(ValueError, match="max_rates"):
        tune_unnormalised(ann, split, 5, max_rates=(0.0,), input_shape=(1, 4, 5), progress=False)
    with pytest.raises(ValueError, match="timesteps"):
        tune_unnormalised(ann, split, 0, input_shape=(1, 4, 5), progress=False)

"""Speed of the fast engine's recurrent stage (issue 16 item 8): no per-step work that grows with T."""

from __future__ import annotations

import torch
from torch.profiler import ProfilerActivity, profile

from snnsim.core import connections
from snnsim.core.spec import build_network
from snnsim.core.surrogate import ArcTan
from snnsim.engine import forward, simulate
from snnsim.native import events as events_native


def _net(n_in: int = 12, n_hid: int = 16, n_out: int = 3):
    lif = {"type": "lif", "leak": 0.9, "thresh": 1.0, "reset": "subtract"}
    spec = {
        "dt": 1.0,
        "layers": [{"name": "input", "type": "input", "shape": [n_in]}, {"name": "h", **lif}, {"name": "out", **lif}],
        "connections": [
            {"source": s, "target": t, "ops": [{"op": "linear", "out_features": n, "bias": False}]}
            for s, t, n in (("input", "h", n_hid), ("h", "h", n_hid), ("h", "out", n_out))
        ],
    }
    torch.manual_seed(0)
    net = build_network(spec)
    with torch.no_grad():
        net.connections["input", "h"].layers[0].weight.mul_(4.0)
    for name in ("h", "out"):
        net.layers[name].surrogate = ArcTan(2.0)
    return net


def _spikes(t: int, b: int = 4, n: int = 12) -> torch.Tensor:
    return torch.rand(t, b, n, generator=torch.Generator().manual_seed(1)) < 0.3


def test_bptt_backward_does_not_scatter_every_step_into_a_full_tensor():
    """Indexing the precomputed [T, B, N] input current with [t] in the loop made backward fill a
    [T, B, N] zero tensor for every step (O(T^2)); the stage splits it into views once."""
    t = 40
    net = _net()
    out = forward(net, _spikes(t)).spikes["out"].sum(0)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        out.sum().backward()
    names = [e.name for e in prof.events()]
    assert names.count("aten::select_backward") < t // 4, names.count("aten::select_backward")
    assert net.connections["h", "h"].layers[0].weight.grad.abs().sum() > 0


def test_recurrent_weight_is_transposed_once_per_run(monkeypatch):
    """The event-driven recurrent linear op reuses one transposed weight for all T steps."""
    tables: list[torch.Tensor] = []
    real = events_native.bag_sum

    def spy(spikes, table, counts):
        tables.append(table)  # keeps them alive, so ids are not reused
        return real(spikes, table, counts)

    monkeypatch.setattr(events_native, "bag_sum", spy)
    monkeypatch.setattr(connections.density, "cost_model", lambda *a: _always_events())
    net = _net()
    x = _spikes(30)
    rec = simulate(net, x)
    w = net.connections["h", "h"].layers[0].weight
    recurrent = [tb for tb in tables if tb.shape == w.t().shape]
    if not recurrent:  # no C compiler: the torch path, nothing to count
        return
    assert len(recurrent) == 30 and len({id(tb) for tb in recurrent}) == 1
    assert torch.equal(recurrent[0], w.t())
    assert torch.equal(rec.spikes["out"], simulate(net, x, engine="bindsnet").spikes["out"])


def _always_events():
    from snnsim.core.density import ALWAYS_EVENTS

    return ALWAYS_EVENTS


def test_cached_weight_tables_scope():
    w = torch.randn(5, 3)
    assert connections._weight_table(w) is not connections._weight_table(w)  # no caching outside
    with connections.cached_weight_tables():
        a = connections._weight_table(w)
        assert a is connections._weight_table(w) and torch.equal(a, w.t())
        w2 = torch.randn(5, 3)
        assert torch.equal(connections._weight_table(w2), w2.t())
    assert connections._weight_table(w) is not a

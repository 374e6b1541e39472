"""snnsim -> NIR -> snnTorch / SpikingJelly / Norse on a small FC net (IF and LIF, dt = 1 and
1e-4): output spikes compared step by step. Each peer's test is skipped when it is not
installed (``pip install -r requirements-peers.txt``). Where a peer's importer is known to be
wrong, a test pins the bug so that an upstream fix is noticed (it then fails: update it)."""

import contextlib
import io
import warnings

import pytest
import torch

pytest.importorskip("nir")

import networks
from snnsim.engine import simulate
from snnsim.nir.graph import to_nir
from tests.helpers import poisson_input, scale_weights


def _net(neuron: str, dt: float):
    kw = {"leak": 0.9} if neuron == "lif" else {}
    net = scale_weights(networks.fc([10, 8, 4], neuron=neuron, **kw), 1.0)
    with torch.no_grad():
        for conn in net.connections.values():
            for p in conn.parameters():
                p.abs_().mul_(0.6)
    net.dt = dt
    return net


def _importer(peer: str):
    pytest.importorskip(peer)
    if peer == "spikingjelly":
        from spikingjelly.activation_based.nir_exchange import import_from_nir

        return lambda g, dt: import_from_nir(g, dt=dt)
    if peer == "snntorch":
        from snntorch.import_nir import import_from_nir

        return lambda g, dt: import_from_nir(g)  # snnTorch fixes dt = 1e-4
    from norse.torch import from_nir

    return lambda g, dt: from_nir(g, dt=dt, ignore_warnings=True)


def _peer_spikes(peer: str, net, x: torch.Tensor) -> torch.Tensor:
    """The peer's output spikes ``[T, B, n]`` for snnsim's export of ``net``."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        module = _importer(peer)(to_nir(net), float(net.dt))
        state, out = None, []
        for t in range(x.shape[0]):
            y = module(x[t]) if state is None else module(x[t], state)
            y, state = y if isinstance(y, tuple) else (y, None)
            out.append(y.detach() > 0)
    return torch.stack(out)


def _agreement(peer: str, neuron: str, dt: float) -> tuple[float, int]:
    net = _net(neuron, dt)
    x = poisson_input((30, 2, 10), 0.5).float()
    ref = simulate(net, x).spikes["out"]
    got = _peer_spikes(peer, net, x)
    return float((got == ref).float().mean()), int(ref.sum())


EXACT = [("spikingjelly", n, dt) for n in ("if", "lif") for dt in (1.0, 1e-4)] + [
    ("snntorch", "lif", 1e-4),
    ("norse", "if", 1.0),
    ("norse", "if", 1e-4),
]


@pytest.mark.parametrize("peer, neuron, dt", EXACT)
def test_export_imports_into_peer_with_same_spikes(peer, neuron, dt):
    agree, n_spikes = _agreement(peer, neuron, dt)
    assert n_spikes > 20 and agree == 1.0


def test_snntorch_lif_needs_its_fixed_dt():
    """snnTorch reads LIF with a hard-coded dt = 1e-4: write the file with save_nir(dt=1e-4)."""
    agree, _ = _agreement("snntorch", "lif", 1.0)
    assert agree < 0.5


@pytest.mark.parametrize("dt", [1.0, 1e-4])
def test_known_bug_snntorch_if_import(dt):
    """snnTorch's IF import refuses r != 1 (NIR's Euler IF needs r = 1/dt) and at r = 1 builds a
    leaky neuron (beta 0.9) whose graph fails to run."""
    with pytest.raises((AssertionError, TypeError)):
        _agreement("snntorch", "if", dt)


@pytest.mark.parametrize("dt", [1.0, 1e-4])
def test_known_bug_norse_lif_import(dt):
    """Norse 1.1 mishandles NIR LIF (r != 1 is warned about, and the output stays silent)."""
    agree, _ = _agreement("norse", "lif", dt)
    assert agree < 0.5

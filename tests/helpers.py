"""Small shared helpers for the tests."""

from __future__ import annotations

import torch
from bindsnet.network import Network
from torch import nn

from snnsim.core.connections import ModuleConnection
from snnsim.core.density import forward_uses_events
from snnsim.core.ops import TemporalDropout
from snnsim.engine import Record, simulate


def scale_weights(net: Network, factor: float, seed: int = 0) -> Network:
    """Re-draw every weight uniformly in [-factor, factor] (deterministic); returns ``net``."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for conn in net.connections.values():
            for m in conn.layers:
                for p in m.parameters():
                    p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * factor)
    return net


def poisson_input(shape: tuple[int, ...], p: float = 0.2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) < p


# --- the engine contract -------------------------------------------------------------------
#: Potentials of a layer fed by a dense Linear/Conv2d may differ between the engines by at most
#: ``ENGINE_ULPS * eps * T * max(1, max |v|)`` (``eps`` of the potentials' dtype, ``T`` steps).
#: Why: the fast engine calls such an op once over ``[T * B, ...]``, BindsNET once per step over
#: ``[B, ...]``; BLAS/oneDNN choose their blocking, hence the summation order, by shape and CPU
#: (AVX2 vs AVX-512), so each step's current may round differently, by about one unit in the last
#: place (ulp) of the largest current (bounded by ``max(1, max |v|)``: thresholds are ~1); a
#: potential sums up to ``T`` currents. 4 ulps a step is about 36x the largest difference measured
#: (0.11 ulp a step: LeNet fc1; SCNN read-out at T = 25: 2.9e-6 against 1.3e-4; README
#: "Engine equivalence").
#: Spikes are identical, and so are potentials fed only by ops that do the same arithmetic in
#: both engines (event-driven sums of boolean spikes, pooling, the element-wise neuron update).
ENGINE_ULPS = 4


def engine_tolerance(v: torch.Tensor) -> float:
    """The largest difference the engine contract allows in potentials ``v`` ``[T, B, ...]``."""
    return ENGINE_ULPS * torch.finfo(v.dtype).eps * v.shape[0] * max(1.0, float(v.abs().max()))


def _events_in_both_engines(spikes: torch.Tensor, m: nn.Linear) -> bool:
    """Whether the density-adaptive Linear sums events for ``spikes`` ``[T, B, ...]`` in both
    engines: the fast one's call over ``[T * B, K]`` and every step's call over ``[B, K]``."""
    flat = spikes.flatten(2)
    return forward_uses_events(flat.flatten(0, 1), m.out_features) and all(
        forward_uses_events(step, m.out_features) for step in flat
    )


def _batch_invariant(conn: object, spikes: torch.Tensor) -> bool:
    """Whether ``conn`` computes every sample's current the same way for any batch shape: its
    only weighted op is an event-driven Linear reached by boolean spikes (see ModuleConnection)
    that takes the event-driven path in both engines (``spikes``: the source's ``[T, B, ...]``)."""
    if not isinstance(conn, ModuleConnection):
        return False
    bool_spikes = spikes.dtype == torch.bool
    for m in conn.layers:
        if isinstance(m, TemporalDropout) and not m.training:
            continue
        if isinstance(m, nn.Linear) and bool_spikes and conn.event_driven:
            if not _events_in_both_engines(spikes, m):
                return False
            bool_spikes = False
        elif isinstance(m, (nn.Linear, nn.Conv2d)):
            return False
        else:
            bool_spikes = False
    return True


def exact_layers(net: Network, rec: Record) -> set[str]:
    """Layers whose potentials both engines compute with the same arithmetic (``rec`` gives
    the source spikes, hence the paths that the density-adaptive Linear ops take)."""
    dense = {tgt for (src, tgt), conn in net.connections.items() if not _batch_invariant(conn, rec.spikes[src])}
    return set(net.layers) - dense


def assert_records_agree(net: Network, fast: Record, ref: Record) -> None:
    """The engine contract: identical spikes; potentials bit-identical in :func:`exact_layers`,
    else within :func:`engine_tolerance`."""
    assert list(fast.spikes) == list(ref.spikes)
    for name in fast.spikes:
        assert fast.spikes[name].shape == ref.spikes[name].shape
        assert torch.equal(fast.spikes[name], ref.spikes[name]), f"spikes differ in layer {name}"
    exact = exact_layers(net, fast)
    assert list(fast.voltages) == list(ref.voltages)
    for name, v in fast.voltages.items():
        assert v.dtype == ref.voltages[name].dtype, name
        if name in exact:
            assert torch.equal(v, ref.voltages[name]), f"potentials differ in layer {name}"
        else:
            err, tol = float((v - ref.voltages[name]).abs().max()), engine_tolerance(ref.voltages[name])
            assert err <= tol, f"potentials of layer {name} differ by {err:.3g} > {tol:.3g}"


def assert_engines_agree(net: Network, x: torch.Tensor, **kw) -> Record:
    """Simulate ``x`` in both engines with all potentials, check the contract, return the fast record."""
    fast = simulate(net, x, engine="fast", record_voltage=True, **kw)
    ref = simulate(net, x, engine="bindsnet", record_voltage=True, **kw)
    assert_records_agree(net, fast, ref)
    return fast

"""Export to and import from NIR (the Neuromorphic Intermediate Representation).

Requires the ``nir`` package (``pip install nir``). NIR describes neurons by ODEs in
continuous time; snnsim runs them in discrete steps of ``dt``. The mapping reads each ODE by
its forward-Euler step of ``dt``: ``tau dv/dt = (v_leak - v) + r I`` becomes
``v <- (1 - dt/tau) v + (dt/tau) v_leak + (dt r/tau) I`` and ``dv/dt = r I`` (IF, I) becomes
``v <- v + dt r I``. snnsim's update ``v <- leak v + x`` is that step exactly when

============================  =============================================================
snnsim                        NIR
============================  =============================================================
``input`` layer               ``Input`` (shape)
``if`` (reset zero)           ``IF(r=1/dt, v_threshold, v_reset)``  (input gain dt r = 1)
``lif`` (leak)                ``LIF(tau=dt/(1-leak), r=tau/dt, v_leak=0, v_threshold, v_reset)``
``integrator``, leak 1        ``I(r=1/dt)``;  leak < 1: ``LI(tau=dt/(1-leak), r=tau/dt, v_leak=0)``
``cuba_lif`` (syn_leak)       ``CubaLIF(tau_syn=dt/(1-syn_leak), w_in=tau_syn/dt, tau_mem, r=tau_mem/dt)``
``cuba_li``                   ``CubaLI`` (the same, no spikes)
``threshold``                 ``Threshold`` (memoryless Heaviside)
op ``linear``                 ``Linear`` (``Affine`` with a bias), after a ``Flatten``
op ``conv2d``                 ``Conv2d``
op ``avgpool2d``              ``AvgPool2d``;  op ``sumpool2d``: ``SumPool2d``;  op ``scale``: ``Scale``
op ``flatten``                ``Flatten``
bindsnet ``IFNodes``          ``IF(r=1/dt, v_threshold, v_reset=reset)`` (refrac 0, no lbound)
bindsnet ``LIFNodes``         ``LIF(tau=dt/(1-decay), r=tau/dt, v_leak=rest, v_reset=reset)`` (rest = reset)
bindsnet ``Connection``       ``Linear`` (``weight = w.T``; ``Affine`` with ``b``), no learning rule
op ``dropout``                nothing (identity at inference)
last layer                    also connected to an ``Output`` node
recurrent connection          an edge to the same or an earlier layer (a cycle)
============================  =============================================================

CubaLIF under the Euler reading: ``I <- (1 - dt/tau_syn) I + (dt/tau_syn) w_in S``, then
the LIF step with ``tau_mem`` reads the *new* ``I`` (the current is a pre-filter of the
input, as in snnTorch's ``Synaptic``): snnsim's ``i = syn_leak i + x; v = leak v + i``.

Recurrent edges: NIR leaves the delay of a cycle implicit; snnsim reads a cycle as
BindsNET's ``Network.run(one_step=True)`` does (and snnTorch's ``RLeaky``): the edge that
closes the cycle (to the same or an earlier layer) delivers the previous step's spikes.
Import orders the layers depth-first from the Input nodes (snnsim's own files store their
layer order in ``metadata["snnsim"]["layers"]``), so that the back edges are the delayed ones.

Threshold convention: snnsim fires at ``v >= thresh``, NIR at ``v > v_threshold``. Export
writes ``v_threshold = nextafter(float32(thresh), -inf)`` and import reads
``thresh = nextafter(float32(v_threshold), +inf)``: for float32 potentials both inequalities
then select the same values, so a round trip is exact and the file means what snnsim ran.

Time step: ``save_nir(net, path, dt=1e-4)`` writes the time constants for a reader that
simulates at ``dt = 1e-4`` (snnTorch's fixed step, SpikingJelly's usual one); the file's
``metadata["dt"]`` (and ``metadata["snnsim"]["dt"]``) records it, and :func:`load_nir` reads
it from there unless ``dt=`` is given. A file without it needs ``dt=``.

Import (:mod:`snnsim.nir.reader`) honours ``r``, ``v_leak``, ``v_reset`` and per-neuron
arrays exactly: ``leak = 1 - dt/tau`` per neuron, the input gain ``dt r/tau`` (``dt r``) and
the drift ``(dt/tau) v_leak`` are folded into the Linear/Affine/Conv2d before the neuron.
Every node and edge is imported or refused with a :class:`~snnsim.errors.UserError` naming
it (Delay, subgraphs and CubaLIF/CubaLI with ``v_leak != 0`` are refused). The initial
potential is ``v_reset``.

Stock BindsNET parts (export only, :mod:`snnsim.nir.stock`): ``decay = exp(-dt/tc_decay)`` is
the layer's own float32 factor. Refused: refractory periods (BindsNET's default ``refrac=5``),
``lbound``, adaptive thresholds, learning rules, and ``rest != reset`` (readers start at
``v_reset``). snnsim's own reader takes such a file back where its thresholds are > 0 (in mV
they usually are not: the file is still exact for readers that accept them).

What NIR cannot express is refused on export, never changed silently: reset by
subtraction, rate-based ``maxpool2d``, ``batchnorm`` (fold it first), refractory periods.
``subtract_reset="warn"`` exports reset-by-subtraction layers as reset to zero with a
``UserWarning``: the file then means reset to zero to every reader, snnsim included.
snnsim's exact ``leak`` (float64) travels in each node's ``metadata["snnsim"]`` and is used
on import only while the file's ``tau`` still gives the same float32 leak.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from bindsnet.network import Network

from snnsim.argcheck import as_path, regular_file
from snnsim.core.checks import check_name
from snnsim.core.spec import build_network, network_spec
from snnsim.errors import UserError
from snnsim.nir.reader import fold_gain, graph_dt, load_weights, neuron_layer, op_spec
from snnsim.nir.writer import THRESHOLD_CONVENTION, nir_module, to_nir

_NEURONS = ("Input", "IF", "LIF", "I", "LI", "CubaLIF", "CubaLI", "Threshold")
_OPS = ("Linear", "Affine", "Conv2d", "AvgPool2d", "SumPool2d", "Scale", "Flatten")


def _kind(name: str, node: Any) -> str:
    """ "neuron", "op" or "output" for a supported NIR node; a UserError naming any other."""
    nir = nir_module()
    kind = type(node).__name__
    if isinstance(node, nir.Output):
        return "output"
    if kind in _NEURONS and isinstance(node, getattr(nir, kind)):
        return "neuron"
    if kind in _OPS and isinstance(node, getattr(nir, kind)):
        return "op"
    raise UserError(
        f"NIR node {name!r} of type {kind} is not supported by snnsim (supported: "
        f"{', '.join(_NEURONS + _OPS)}, Output); nothing was imported"
    )


def _order(graph: Any) -> list[str]:
    """Node names in snnsim's layer order: the file's ``metadata['snnsim']['layers']`` when it
    names its nodes (snnsim's exports), else a depth-first order from the Input nodes in
    which every edge goes forward except those that close a cycle (to the same or an
    earlier node): those become snnsim's recurrent connections (previous step's spikes)."""
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise UserError(f"NIR edge {a!r} -> {b!r} names a node the graph does not have")
    succ: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)
    done: list[str] = []
    seen: set[str] = set()
    roots = [k for k, n in graph.nodes.items() if type(n).__name__ == "Input"] + list(graph.nodes)
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(succ[root]))]
        while stack:
            node, it = stack[-1]
            nxt = next((b for b in it if b not in seen), None)
            if nxt is None:
                done.append(node)
                stack.pop()
            else:
                seen.add(nxt)
                stack.append((nxt, iter(succ[nxt])))
    order = done[::-1]
    saved = ((graph.metadata or {}).get("snnsim") or {}).get("layers")
    if isinstance(saved, (bytes, np.bytes_)):
        saved = saved.decode()
    saved = json.loads(saved) if isinstance(saved, str) else None  # a JSON list, as to_nir writes it
    if isinstance(saved, list) and set(map(str, saved)) <= set(graph.nodes):
        rank = {str(k): i for i, k in enumerate(saved)}
        order = sorted(order, key=lambda k: (rank.get(k, -1), order.index(k)))
    return order


def _chains(graph: Any, kinds: dict[str, str]) -> list[dict[str, Any]]:
    """One connection per (neuron -> ops... -> neuron) path: source, target, op node names."""
    preds: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        preds[b].append(a)
        if kinds[a] == "output":
            raise UserError(f"NIR edge {a!r} -> {b!r} leaves an Output node")
        if kinds[b] == "neuron" and type(graph.nodes[b]).__name__ == "Input":
            raise UserError(f"NIR edge {a!r} -> {b!r} enters an Input node")
    used: set[str] = set()
    conns = []
    for name in graph.nodes:
        if kinds[name] not in ("neuron", "output"):
            continue
        for pred in preds[name]:
            chain, cur = [], pred
            while kinds[cur] == "op":
                if len(preds[cur]) != 1:
                    raise UserError(f"NIR node {cur!r} has {len(preds[cur])} inputs; snnsim ops take exactly one")
                chain.append(cur)
                cur = preds[cur][0]
            used.update(chain)
            if kinds[name] == "output":
                if chain:
                    raise UserError(
                        f"NIR nodes {chain[::-1]} between {cur!r} and Output {name!r} have no "
                        "neuron layer after them; snnsim outputs are neuron layers"
                    )
                continue
            conns.append({"source": cur, "target": name, "chain": chain[::-1]})
    dangling = [k for k in graph.nodes if kinds[k] == "op" and k not in used]
    if dangling:
        raise UserError(f"NIR node {dangling[0]!r} does not lead to any neuron node; snnsim cannot import it")
    return conns


def _connection(graph: Any, c: dict[str, Any]) -> dict[str, Any]:
    """snnsim ops and their [weight, bias] arrays for one chain (a Flatten before a Linear is
    dropped: snnsim's linear op flattens its input itself)."""
    ops, params = [], []
    nodes = [graph.nodes[k] for k in c["chain"]]
    specs = [op_spec(k, n) for k, n in zip(c["chain"], nodes)]
    for op, nxt, node in zip(specs, specs[1:] + [None], nodes):
        if op["op"] == "flatten" and nxt is not None and nxt["op"] == "linear":
            continue
        ops.append(op)
        w = getattr(node, "weight", getattr(node, "scale", None))
        b = getattr(node, "bias", None) if op.get("bias") else None
        params.append(
            None
            if w is None
            else (np.asarray(w, dtype=np.float64), None if b is None else np.asarray(b, dtype=np.float64))
        )
    if not ops:
        raise UserError(
            f"NIR edge {c['source']!r} -> {c['target']!r} joins two neuron nodes directly; snnsim "
            "connections need a Linear/Affine/Conv2d/AvgPool2d between layers"
        )
    return {"source": c["source"], "target": c["target"], "ops": ops, "params": params}


def from_nir(graph: Any, *, dt: Optional[float] = None) -> Network:
    """Build a Network from a ``nir.NIRGraph`` (see the module docstring for the mapping).

    dt: the simulation step, in the unit of the graph's time constants; default: the
    graph's ``metadata`` (``"dt"`` or ``"snnsim"/"dt"``). A graph with neurons and no time
    step needs it (UserError otherwise). Every unsupported node or edge raises a UserError
    naming it; nothing is dropped.
    """
    dt = graph_dt(graph, dt)
    kinds = {k: _kind(k, n) for k, n in graph.nodes.items()}
    order = _order(graph)
    conns = [_connection(graph, c) for c in _chains(graph, kinds)]
    layers = []
    for name in (k for k in order if kinds[k] == "neuron"):
        check_name(name, "NIR node name (an snnsim layer name)")
        layer, gain, drift = neuron_layer(name, graph.nodes[name], dt)
        fold_gain(name, [c for c in conns if c["target"] == name], gain, drift)
        layers.append(layer)
    spec = {
        "dt": dt if dt is not None else 1.0,
        "layers": layers,
        "connections": [{"source": c["source"], "target": c["target"], "ops": c["ops"]} for c in conns],
    }
    net = build_network(spec)
    load_weights(net, conns)
    return net


def save_nir(network: Network, path: Union[str, Path], **kw: Any) -> Path:
    """Write ``network`` as a NIR HDF5 file; ``kw`` as :func:`to_nir` (``dt=``, ``subtract_reset=``)."""
    path = as_path(path, "path")
    nir_module().write(str(path), to_nir(network, **kw))
    return path


def load_nir(path: Union[str, Path], *, dt: Optional[float] = None, type_check: bool = True) -> Network:
    """Read a NIR HDF5 file into a Network.

    dt: the simulation step (default: the file's metadata; required when it has none).
    type_check: NIR's check that connected nodes' shapes agree (pass False for files whose
    types do not line up, e.g. some of Norse's exports; snnsim still checks shapes when it
    builds the network).
    """
    path = regular_file(as_path(path, "path"), "NIR file")
    nir = nir_module()
    try:
        graph = nir.read(str(path), type_check=type_check)
    except OSError as err:  # h5py: not HDF5, truncated
        raise UserError(
            f"cannot read NIR file {str(path)!r}: not a complete HDF5 file (truncated or not NIR?): "
            f"{str(err).splitlines()[0]}"
        ) from None
    except (AssertionError, ValueError, KeyError, TypeError) as err:
        unknown = _unknown_node_types(path)
        if unknown:
            raise UserError(
                f"cannot read NIR file {str(path)!r}: node {unknown[0][0]!r} has the type "
                f"{unknown[0][1]!r}, which NIR does not know (a newer NIR or another tool's "
                "extension?); remove or replace that node"
            ) from None
        why = str(err).splitlines()[0] if str(err).strip() else "the nir package refused it"
        hint = "; pass type_check=False to skip NIR's shape check" if type_check else ""
        raise UserError(f"cannot read NIR file {str(path)!r}: {type(err).__name__}: {why}{hint}") from None
    return from_nir(graph, dt=dt)


def _unknown_node_types(path: Path) -> list[tuple[str, str]]:
    """(node path, type) of the nodes of the NIR file ``path`` whose type NIR does not know."""
    import h5py

    nir = nir_module()
    found: list[tuple[str, str]] = []

    def visit(name: str, obj: Any) -> None:
        parts = name.split("/")  # .../nodes/NAME/type (not the type keys of metadata)
        if len(parts) >= 3 and parts[-1] == "type" and parts[-3] == "nodes" and isinstance(obj, h5py.Dataset):
            kind = obj[()]
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if not hasattr(nir, kind):
                found.append((parts[-2], kind))

    try:
        with h5py.File(path, "r") as fh:
            fh.visititems(visit)
    except (OSError, ValueError):
        return []
    return found


__all__ = ["to_nir", "from_nir", "save_nir", "load_nir", "network_spec", "THRESHOLD_CONVENTION"]

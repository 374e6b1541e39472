"""Execution plan of the fast engine: which layers run layer-wise, which step through time.

BindsNET's ``Network.run(one_step=True)`` updates the layers in the order they were added,
at every step; a connection from an earlier layer delivers the spikes of the same step, a
connection from the layer itself or from a later layer those of the previous step
(:func:`delayed`). The fast engine gets the same result from the strongly connected
components (SCCs) of the layer graph: a component without a cycle is one layer, run over
all ``T`` steps at once; a component with a cycle (several layers, or a self-connection)
steps through time, its layers in network order at every step. Components run in a
topological order of the component graph (ties: the earliest layer first).
"""

from __future__ import annotations

import functools
import heapq
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence


@dataclass(frozen=True)
class Stage:
    """Layers that run together: one layer over all steps (``recurrent=False``) or a cycle of
    layers stepping through time, in network order (``recurrent=True``)."""

    layers: tuple[str, ...]
    recurrent: bool


@dataclass(frozen=True)
class Plan:
    """Stages in execution order, and the connections (source, target) that deliver the
    previous step's spikes."""

    stages: tuple[Stage, ...]
    delayed: frozenset[tuple[str, str]]


def strongly_connected(nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the SCCs of a directed graph, each a list of nodes."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(succ[node]):
                work.append((node, i + 1))
                nxt = succ[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:  # propagate to the caller
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                out.append(comp)
    return out


def delayed(order: Sequence[str], edges: Iterable[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    """Connections from the layer itself or a later layer: they deliver the previous step's spikes."""
    pos = {name: i for i, name in enumerate(order)}
    return frozenset((a, b) for a, b in edges if pos[a] >= pos[b])


def execution_plan(order: Sequence[str], edges: Sequence[tuple[str, str]]) -> Plan:
    """The :class:`Plan` for layers ``order`` (network order) joined by ``edges`` (source, target)."""
    pos = {name: i for i, name in enumerate(order)}
    comps = [sorted(c, key=pos.__getitem__) for c in strongly_connected(order, edges)]
    comp_of = {name: k for k, comp in enumerate(comps) for name in comp}
    preds: dict[int, set[int]] = {k: set() for k in range(len(comps))}
    for a, b in edges:
        if comp_of[a] != comp_of[b]:
            preds[comp_of[b]].add(comp_of[a])
    self_loops = {a for a, b in edges if a == b}
    succs: dict[int, list[int]] = {k: [] for k in preds}
    for k, ps in preds.items():
        for q in ps:
            succs[q].append(k)
    waiting = {k: len(ps) for k, ps in preds.items()}
    ready = [(pos[comps[k][0]], k) for k, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    stages = []
    while ready:
        _, k = heapq.heappop(ready)
        comp = comps[k]
        stages.append(Stage(tuple(comp), len(comp) > 1 or comp[0] in self_loops))
        for nxt in succs[k]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, (pos[comps[nxt][0]], nxt))
    return Plan(tuple(stages), delayed(order, edges))


@functools.lru_cache(maxsize=256)
def _cached_plan(order: tuple[str, ...], edges: tuple[tuple[str, str], ...]) -> Plan:
    return execution_plan(order, edges)


def plan_network(network: object) -> Plan:
    """:func:`execution_plan` of a BindsNET ``Network`` (its ``layers`` and ``connections``),
    memoised on the layer names and connection keys (a plan is immutable; this runs per forward)."""
    layers: Mapping[str, object] = network.layers  # type: ignore[attr-defined]
    return _cached_plan(tuple(layers), tuple(network.connections))  # type: ignore[attr-defined]

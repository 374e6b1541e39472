"""Record spikes and potentials of every ``simulate`` call inside a ``with`` block.

::

    with record(net, layers=["fc1", "out"], variables=("s", "v")) as rec:
        for x, y in split.batches(100):
            simulate(net, encoder(x, T))            # either engine
    plot_raster(rec, sample=3)                      # rec is an snnsim.engine.Record

The recorder sits in the network's ``RECORDERS_ATTR`` list (see :mod:`snnsim.engine`),
so ``simulate`` also keeps the potentials it asks for and hands it every Record. Batches
are concatenated along B. Spikes are kept as bool (1 byte per neuron and step), potentials
as float32. A cap (``max_bytes``) is checked before anything is stored.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional, Sequence, Union

import torch
from bindsnet.network import Network
from bindsnet.network.nodes import Input

from snnsim.engine import RECORDERS_ATTR, Record
from snnsim.engine.record import layer_kinds
from snnsim.errors import UserError, UserTypeError

MiB = 2**20
VARIABLES = ("s", "v")
BYTES = {"s": 1, "v": 4}  # bool spikes, float32 potentials


class RecordingLimitError(ValueError, MemoryError):
    """The recording would exceed its ``max_bytes`` cap (a ValueError and a MemoryError)."""


def _check_variables(variables: Union[str, Sequence[str]]) -> tuple[str, ...]:
    if isinstance(variables, str):
        variables = (variables,)
    vs = tuple(variables)
    bad = [v for v in vs if v not in VARIABLES]
    if not vs or bad:
        raise UserError(
            f"variables must be a non-empty subset of {VARIABLES} ('s': spikes, 'v': potentials), got {variables!r}"
        )
    return tuple(dict.fromkeys(vs))


def _check_layers(network: Network, layers: Optional[Sequence[str]], variables: tuple[str, ...]) -> list[str]:
    if not isinstance(network, Network):
        raise UserTypeError(f"network must be a bindsnet Network, got {type(network).__name__}")
    if isinstance(layers, str):
        layers = [layers]
    names = list(network.layers) if layers is None else list(layers)
    unknown = [n for n in names if n not in network.layers]
    if unknown or not names:
        raise UserError(
            f"layers to record must be layers of the network; unknown {unknown}; layers: {list(network.layers)}"
        )
    return names


def _voltage_layers(network: Network, names: Sequence[str], variables: tuple[str, ...], explicit: bool) -> list[str]:
    if "v" not in variables:
        return []
    inputs = [n for n in names if isinstance(network.layers[n], Input)]
    if inputs and explicit:
        raise UserError(f"input layers {inputs} have no membrane potential; record them with variables=('s',)")
    return [n for n in names if n not in inputs]


def estimate_bytes(
    network: Network,
    timesteps: int,
    batch: int,
    layers: Optional[Sequence[str]] = None,
    variables: Union[str, Sequence[str]] = ("s",),
) -> int:
    """Bytes that recording ``layers`` (default all) of ``network`` for ``batch`` samples in
    total of ``timesteps`` steps takes: 1 byte per neuron and step for spikes, 4 for
    potentials (input layers have spikes only; analog inputs are kept as float, 4 bytes)."""
    if timesteps < 1 or batch < 1:
        raise UserError(f"timesteps and batch must be >= 1, got {timesteps} and {batch}")
    vs = _check_variables(variables)
    names = _check_layers(network, layers, vs)
    v_layers = set(_voltage_layers(network, names, vs, explicit=False))
    per_step = 0
    for n in names:
        size = int(network.layers[n].n)
        if "s" in vs:
            per_step += size * BYTES["s"]
        if n in v_layers:
            per_step += size * BYTES["v"]
    return per_step * int(timesteps) * int(batch)


def _compact(spikes: torch.Tensor) -> torch.Tensor:
    """Bool spikes when the tensor holds only 0/1, else unchanged (analog input currents)."""
    if spikes.dtype == torch.bool:
        return spikes
    if bool(((spikes == 0) | (spikes == 1)).all()):
        return spikes.bool()
    return spikes


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


class Recording(Record):
    """A :class:`Record` that grows with each ``simulate`` call (batches along B).

    Attributes:
        layers: recorded layers; ``voltage_layers``: those whose potentials are kept (the
            engine hook reads this); ``max_bytes``; ``nbytes``: bytes stored so far;
        calls: number of ``simulate`` calls recorded.
    """

    def __init__(
        self,
        layers: Sequence[str],
        voltage_layers: Sequence[str],
        keep_spikes: bool,
        max_bytes: int,
        device: Union[str, torch.device] = "cpu",
        kinds: Optional[dict[str, str]] = None,
    ) -> None:
        self.layers = list(layers)
        self.kinds = dict(kinds or {})  # layer -> kind, as in Record (decides predict's read-out)
        self.voltage_layers = tuple(voltage_layers)
        self.keep_spikes = keep_spikes
        self.max_bytes = int(max_bytes)
        self.device = torch.device(device)
        self.nbytes = 0
        self.calls = 0
        self._dt = 1.0
        self._chunks: dict[str, list[torch.Tensor]] = {}
        self._vchunks: dict[str, list[torch.Tensor]] = {}
        self._cache: Optional[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = None
        self._lead: Optional[int] = None

    # --- the engine hook -------------------------------------------------------------
    def __call__(self, rec: Record) -> None:
        """Append the chosen layers of ``rec`` (called by ``simulate``)."""
        s_new = {n: _compact(rec.spikes[n]) for n in self.layers if self.keep_spikes}
        v_new = {n: rec.voltages[n].float() for n in self.voltage_layers if n in rec.voltages}
        missing = [n for n in self.voltage_layers if n not in rec.voltages]
        if missing:
            raise ValueError(f"the engine did not return potentials of {missing}")
        t = rec.timesteps
        if self._lead is not None and t != self._lead:
            raise UserError(
                f"record() concatenates batches along B, so every simulate call needs the same "
                f"number of steps; got T={t} after T={self._lead} (use one record() block per T)"
            )
        need = sum(_nbytes(x) for x in s_new.values()) + sum(_nbytes(x) for x in v_new.values())
        if self.nbytes + need > self.max_bytes:
            raise RecordingLimitError(
                f"recording would need {(self.nbytes + need) / MiB:.1f} MiB ({self.nbytes / MiB:.1f} MiB stored + "
                f"{need / MiB:.1f} MiB for this batch of {rec.batch_size}) but max_bytes is "
                f"{self.max_bytes / MiB:.1f} MiB; raise it with record(..., max_bytes=N) or record fewer "
                f"layers/variables/samples (estimate_bytes() gives the size in advance)"
            )
        self._lead, self._dt = t, float(rec.dt)
        for n, x in s_new.items():  # copies: input spikes are the caller's own tensor
            self._chunks.setdefault(n, []).append(x.detach().to(self.device, copy=True))
        for n, x in v_new.items():
            self._vchunks.setdefault(n, []).append(x.detach().to(self.device, copy=True))
        self.nbytes += need
        self.calls += 1
        self._cache = None

    # --- the Record view ---------------------------------------------------------------
    def _joined(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        if self._cache is None:
            for chunks in (self._chunks, self._vchunks):
                for n, parts in chunks.items():
                    if len(parts) > 1:
                        chunks[n] = [torch.cat(parts, dim=1)]
            self._cache = ({n: p[0] for n, p in self._chunks.items()}, {n: p[0] for n, p in self._vchunks.items()})
        return self._cache

    @property
    def spikes(self) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """Layer -> spikes ``[T, B_total, *shape]`` (bool; analog inputs as given)."""
        return self._joined()[0]

    @property
    def voltages(self) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """Layer -> potentials ``[T, B_total, *shape]`` (float32)."""
        return self._joined()[1]

    @property
    def dt(self) -> float:  # type: ignore[override]
        return self._dt

    @property
    def timesteps(self) -> int:
        if self._lead is None:
            raise UserError("nothing recorded yet: call simulate() inside the record() block")
        return self._lead

    @property
    def batch_size(self) -> int:
        joined = self.spikes or self.voltages
        if not joined:
            raise UserError("nothing recorded yet: call simulate() inside the record() block")
        return next(iter(joined.values())).shape[1]

    def freeze(self) -> Record:
        """A plain :class:`Record` with the data recorded so far (no copy)."""
        return Record(dict(self.spikes), dict(self.voltages), self.dt, dict(self.kinds))

    def __repr__(self) -> str:
        return (
            f"Recording(layers={self.layers}, voltage_layers={list(self.voltage_layers)}, calls={self.calls}, "
            f"nbytes={self.nbytes})"
        )


@contextmanager
def record(
    network: Network,
    layers: Optional[Sequence[str]] = None,
    variables: Union[str, Sequence[str]] = ("s",),
    max_bytes: int = 512 * MiB,
    device: Union[str, torch.device] = "cpu",
) -> Iterator[Recording]:
    """Record ``layers`` (default all) of every ``simulate(network, ...)`` in the block.

    Args:
        variables: ``"s"`` (spikes, bool) and/or ``"v"`` (membrane potentials, float32;
            input layers have none).
        max_bytes: cap on the stored data; a call that would exceed it raises
            :class:`RecordingLimitError` (a ValueError) and stores nothing of that batch.
        device: where the recorded tensors are kept.
    Yields a :class:`Recording` (an ``snnsim.engine.Record``); the recorder is removed
    from the network on exit, also when the block raises.
    """
    vs = _check_variables(variables)
    names = _check_layers(network, layers, vs)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise UserError(f"max_bytes must be a positive int, got {max_bytes!r}")
    v_layers = _voltage_layers(network, names, vs, explicit=layers is not None)
    rec = Recording(names if "s" in vs else [], v_layers, "s" in vs, max_bytes, device, layer_kinds(network))
    hooks = network.__dict__.setdefault(RECORDERS_ATTR, [])
    hooks.append(rec)
    try:
        yield rec
    finally:
        hooks = network.__dict__.get(RECORDERS_ATTR, [])
        for i, h in enumerate(hooks):
            if h is rec:
                del hooks[i]
                break
        if not hooks:
            network.__dict__.pop(RECORDERS_ATTR, None)

"""BindsNET connections whose weights live in torch modules.

``ModuleConnection`` is a subclass of BindsNET's ``AbstractConnection`` holding an
``nn.ModuleList`` of synaptic ops (Linear, Conv2d, pooling; see :mod:`snnsim.core.ops`).
Because the modules are registered inside the ``Network``, ``network.state_dict()``,
``network.parameters()`` and optimisers see the weights directly: no copies.

Two ways to compute:
- ``compute(s)``: one step, ``[B, *source.shape] -> [B, *target.shape]`` (what
  ``Network.run`` calls; no autograd, so stock runs stay flat in memory; ``compute_step``
  is the differentiable twin);
- ``compute_multi(S)``: all steps, ``[T, B, *source.shape] -> [T, B, *target.shape]``,
  one big matmul/conv per op (what the fast engine calls).

Event-driven linear ops: a ``linear`` op fed by boolean spikes sums the weight
columns of the active inputs (``F.embedding_bag``) instead of a dense matmul; with
typical SNN activity (a few % of neurons spiking per step) this is several times
faster. On CPU the sums run in small C kernels (:mod:`snnsim.native.events`) that read the
spike bytes directly; elsewhere ``F.embedding_bag`` does them, in the same order. Dense
spikes are faster through a matmul: each call counts its spikes and takes the dense path
above a crossover density (:mod:`snnsim.core.density`; forward and weight gradient separately).
Where both engines take the event-driven path they stay bit-identical; a dense call is within
the engine contract's rounding (each engine decides from the spikes of its own call).

Event-driven convs: without autograd (simulation), a ``conv2d`` op whose input (bool spikes, or
e.g. average-pooled spikes) is sparse enough sums the weights of its nonzero inputs only
(:mod:`snnsim.core.event_conv`, C kernel on CPU), else ``nn.Conv2d``; the density decides per
call as for linear ops (``CostModel.conv``). It sums in another order than MKLDNN: results
agree within rounding.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from bindsnet.network.nodes import Nodes
from bindsnet.network.topology import AbstractConnection
from torch import nn

from snnsim.core import density, event_conv, pooling
from snnsim.core.layout import prefer_channels_last
from snnsim.core.ops import TemporalModule, as_float, build_ops
from snnsim.native import events as events_native
from snnsim.native import narrow


def weight_dtype(modules: Sequence[nn.Module]) -> Optional[torch.dtype]:
    """The dtype of the first floating parameter of ``modules`` (None if none): the dtype
    that a connection casts spikes and currents to."""
    for m in modules:
        for p in m.parameters():
            if p.is_floating_point():
                return p.dtype
    return None


def _cast(x: torch.Tensor, dtype: Optional[torch.dtype]) -> torch.Tensor:
    return as_float(x) if dtype is None else x.to(dtype)


def _bag_sum(active: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Row r of the result = sum of ``table`` rows j with ``active[r, j]``, in order of j.

    ``active``: bool ``[N, K]``; ``table``: ``[K, M]`` -> ``[N, M]`` (``F.embedding_bag``;
    the torch path of :mod:`snnsim.native.events`, used off CPU or without a C compiler)."""
    rows, cols = active.nonzero(as_tuple=True)
    offsets = torch.zeros(active.shape[0], dtype=torch.long, device=active.device)
    if active.shape[0] > 1:
        counts = torch.bincount(rows, minlength=active.shape[0])
        offsets[1:] = counts.cumsum(0)[:-1]
    return F.embedding_bag(cols, table, offsets, mode="sum")


_TABLES = threading.local()


@contextmanager
def cached_weight_tables() -> Iterator[None]:
    """Inside the block the event-driven linear op transposes each weight once and reuses the
    copy (a recurrent stage calls it every step with the same weight). Only for runs during
    which no weight changes (the fast engine; not ``Network.run`` with learning rules)."""
    outer = getattr(_TABLES, "cache", None)
    _TABLES.cache = {} if outer is None else outer
    try:
        yield
    finally:
        _TABLES.cache = outer


def _weight_table(weight: torch.Tensor) -> torch.Tensor:
    """``weight.t()`` contiguous ``[n_in, n_out]``: the rows the event-driven sums gather."""
    cache = getattr(_TABLES, "cache", None)
    if cache is None:
        return events_native.transpose(weight)
    hit = cache.get(id(weight))
    if hit is None or hit[0] is not weight:
        hit = cache[id(weight)] = (weight, events_native.transpose(weight))
    return hit[1]


def _count(spikes: torch.Tensor, native: bool) -> tuple[int, Optional[torch.Tensor]]:
    """(number of spikes, per-row counts or None) of bool ``spikes`` ``[N, K]``."""
    if native:
        counts = events_native.row_counts(spikes)
        return int(counts.sum()), counts
    return int(torch.count_nonzero(spikes)), None


def _choose(spikes: torch.Tensor, weight: torch.Tensor) -> tuple[bool, density.CostModel, int, Optional[torch.Tensor]]:
    """(native kernels usable, cost model, spike count, per-row counts or None) for ``spikes [N, K]``."""
    (n, k), m = spikes.shape, weight.shape[0]
    native = events_native.native_usable(spikes, weight.t())
    model = density.cost_model(spikes.device, n, k, m)
    if model.forward <= 0 and model.wgrad <= 0 and not native:
        return native, model, n * k, None  # always dense: no count (on a GPU it would wait for the device)
    nnz, counts = _count(spikes, native)
    return native, model, nnz, counts


def _linear_out(
    spikes: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    native: bool,
    model: density.CostModel,
    nnz: int,
    counts: Optional[torch.Tensor],
) -> tuple[torch.Tensor, Optional[tuple[torch.Tensor, ...]]]:
    """The op's output ``[N, M]`` by the path ``model`` picks, and the native path's index of
    the active inputs (None elsewhere)."""
    n, k = spikes.shape
    if not model.event_forward(n, k, nnz):
        return F.linear(spikes.to(weight.dtype), weight, bias), None  # = nn.Linear of the float spikes
    index = None
    if native:
        out, index = events_native.bag_sum(spikes, _weight_table(weight), counts)
    else:
        out = _bag_sum(spikes, _weight_table(weight))
    return (out.add_(bias.detach()) if bias is not None else out), index  # in place: out is ours, fresh


class _EventLinear(torch.autograd.Function):
    """``spikes @ W.T + b`` for bool spikes, event-driven or dense as :mod:`snnsim.core.density`
    decides from the spike count, for the forward and the weight gradient separately. The
    event-driven weight gradient is also a bag sum: ``dW.T[j] = sum of dOut rows r in which
    input j spiked``; the dense one is ``dOut.T @ spikes``."""

    @staticmethod
    def forward(
        ctx,
        spikes: torch.Tensor,
        weight: torch.Tensor,  # type: ignore[override]
        bias: Optional[torch.Tensor],
    ):
        (n, k) = spikes.shape
        ctx.has_bias, ctx.n_in = bias is not None, k
        ctx.native, model, nnz, counts = _choose(spikes, weight)
        ctx.event_wgrad = model.event_wgrad(n, k, nnz)
        out, index = _linear_out(spikes, weight, bias, ctx.native, model, nnz, counts)
        if ctx.native and ctx.event_wgrad:  # keeps the index of the active inputs, not the spikes
            ctx.save_for_backward(*(index if index is not None else events_native.row_index(spikes, counts)))
        else:
            ctx.save_for_backward(spikes)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        grad_w = None
        if ctx.needs_input_grad[1]:
            if ctx.native and ctx.event_wgrad:
                # [n_in, n_out] sums, turned into the weight's own layout here (a tiled C copy),
                # not by autograd's accumulation, which would copy the transposed view more slowly
                grad_w = events_native.transpose(
                    events_native.bag_sum_transposed(tuple(ctx.saved_tensors), ctx.n_in, grad)
                )
            elif ctx.event_wgrad:
                (spikes,) = ctx.saved_tensors
                grad_w = _bag_sum(spikes.t(), grad.contiguous()).t()
            else:
                (spikes,) = ctx.saved_tensors
                grad_w = grad.t().mm(spikes.to(grad.dtype))
        grad_b = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return None, grad_w, grad_b


def event_linear(spikes: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """``linear(spikes.float())`` for boolean ``spikes`` ``[N, n_in]`` by summing the
    weight columns of the active inputs, in input order. Returns ``[N, n_out]``;
    differentiable with respect to the weight and bias (without autograd, e.g. under
    ``torch.no_grad()``, the same paths run outside the autograd function: less overhead per call)."""
    weight, bias = linear.weight, linear.bias
    if torch.is_grad_enabled() and (weight.requires_grad or (bias is not None and bias.requires_grad)):
        return _EventLinear.apply(spikes, weight, bias)
    return _linear_out(spikes, weight, bias, *_choose(spikes, weight))[0]


def _conv_events(x: torch.Tensor, conv: nn.Conv2d) -> bool:
    """Whether ``conv`` takes the event-driven path for ``x`` ``[N, C, H, W]``: no gradient is
    needed (simulation), the C kernel computes it (:func:`snnsim.core.event_conv.native_usable`)
    and the input's density is below the cost model's conv crossover (:mod:`snnsim.core.density`)."""
    if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in conv.parameters())):
        return False
    return event_conv.native_usable(x, conv) and density.conv_uses_events(x, conv.out_channels)


class ModuleConnection(AbstractConnection):
    """Connection applying a sequence of torch modules to the source's spikes.

    Args:
        source, target: BindsNET node groups.
        ops: op specs (see :mod:`snnsim.core.ops`), e.g. ``[{"op": "linear", "out_features": 10}]``;
            or give ``modules`` directly (then the connection cannot be saved as a spec).
        modules: ready-made modules, alternative to ``ops``.
        event_driven: use the event-driven path for linear ops fed by boolean spikes.
    """

    def __init__(
        self,
        source: Nodes,
        target: Nodes,
        ops: Optional[Sequence[dict[str, Any]]] = None,
        *,
        modules: Optional[Sequence[nn.Module]] = None,
        event_driven: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(source, target, **kwargs)
        if (ops is None) == (modules is None):
            raise ValueError("give exactly one of ops= (op specs) or modules= (torch modules)")
        if ops is not None:
            built, out_shape = build_ops(ops, source.shape)
            if [int(d) for d in out_shape] != [int(d) for d in target.shape]:
                raise ValueError(
                    f"ops {[o['op'] for o in ops]} map source shape {tuple(source.shape)} to "
                    f"{tuple(out_shape)}, but the target layer has shape {tuple(target.shape)}"
                )
            self.ops: Optional[list[dict[str, Any]]] = [dict(o) for o in ops]
        else:
            built = list(modules)  # type: ignore[arg-type]
            self.ops = None
            with torch.no_grad():
                probe = torch.zeros(1, *source.shape)
                out = self._apply_step(probe, built)
            if list(out.shape[1:]) != list(target.shape) and out[0].numel() != target.n:
                raise ValueError(
                    f"modules map source shape {tuple(source.shape)} to {tuple(out.shape[1:])}, "
                    f"but the target layer has shape {tuple(target.shape)}"
                )
        self.layers = nn.ModuleList(built)
        self.event_driven = bool(event_driven)

    # --- helpers ---------------------------------------------------------------------
    def _apply_step(
        self, x: torch.Tensor, modules: Sequence[nn.Module], dtype: Optional[torch.dtype] = None
    ) -> torch.Tensor:
        """Apply ``modules`` to ``x`` ``[N, ...]``; spikes and currents are cast to ``dtype``
        (default: the dtype of the weights of ``modules``), so float64 weights compute in float64."""
        dtype = dtype or weight_dtype(modules)
        for m in modules:
            if isinstance(m, TemporalModule):
                x = m.step(x)
            elif isinstance(m, nn.Linear):
                x = x.reshape(x.shape[0], -1)
                if x.dtype == torch.bool and getattr(self, "event_driven", False):
                    x = event_linear(x, m)
                elif narrow.usable(x, m):  # few output features: native kernels, not MKL's sgemm
                    x = narrow.narrow_linear(x, m)
                else:
                    x = m(_cast(x, dtype))
            elif isinstance(m, nn.Conv2d) and getattr(self, "event_driven", False) and _conv_events(x, m):
                x = event_conv.conv_module(x, m)
            elif (
                isinstance(m, nn.Conv2d)
                and getattr(self, "event_driven", False)
                and event_conv.direct_forward_usable(x, m)
            ):
                x = event_conv.direct_forward(x, m)  # no gradient, a denser 1-channel input: not MKLDNN
            elif (
                isinstance(m, nn.Conv2d)
                and getattr(self, "event_driven", False)
                and torch.is_grad_enabled()
                and event_conv.trainable_usable(x, m)
            ):  # training on sparse spikes (an input layer's, or hidden ones that need a gradient)
                x = event_conv.event_conv_trainable(x, m)
            elif isinstance(m, nn.AvgPool2d) and pooling.usable(x, m):  # training: one-pass input gradient
                x = pooling.avg_pool(x, m)
            elif isinstance(m, nn.AvgPool2d) and dtype in (None, torch.float32) and pooling.spikes_usable(x, m):
                x = pooling.avg_pool_spikes(x, m)  # bool spikes (simulation): no float copy first
            else:
                x = m(_cast(x, dtype))
        return x

    # --- BindsNET interface --------------------------------------------------------------
    def compute(self, s: torch.Tensor) -> torch.Tensor:
        """One step, what BindsNET's ``Network.run`` calls: spikes ``[B, *source.shape]`` ->
        input current ``[B, *target.shape]``, without autograd, so that a step-by-step run
        builds no graph across its steps (memory flat in T). :meth:`compute_step` is the same
        step with autograd; the fast engine's :meth:`compute_multi` keeps gradients."""
        with torch.no_grad():
            return self.compute_step(s)

    def compute_step(self, s: torch.Tensor) -> torch.Tensor:
        """:meth:`compute` with autograd on (gradients reach the weights)."""
        b = s.shape[0]
        x = s.reshape(b, *self.source.shape)
        return self._apply_step(x, self.layers).reshape(b, *self.target.shape)

    def compute_multi(self, s: torch.Tensor) -> torch.Tensor:
        """All steps: spikes ``[T, B, *source.shape]`` -> current ``[T, B, *target.shape]``."""
        t, b = s.shape[:2]
        x = s.reshape(t, b, *self.source.shape)
        dtype = weight_dtype(self.layers)  # the same casts as compute()
        training = torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())
        for m in self.layers:
            if isinstance(m, TemporalModule):
                x = m.multi(x)
            else:  # channels-last for convs, pooling and batch norm while training (snnsim.core.layout)
                x = self._apply_step(prefer_channels_last(x.flatten(0, 1), m, training), [m], dtype)
                x = x.unflatten(0, (t, b))
        return x.reshape(t, b, *self.target.shape)

    def update(self, **kwargs: Any) -> None:
        """BindsNET's abstract per-step learning hook (required to instantiate): no learning here."""
        super().update(**kwargs)

    def normalize(self) -> None:
        """No weight normalisation (BindsNET calls this after each run)."""

    def reset_state_variables(self) -> None:
        super().reset_state_variables()
        for m in self.layers:
            if isinstance(m, TemporalModule):
                m.reset_state()

    # --- conveniences -------------------------------------------------------------------
    @property
    def weighted(self) -> list[nn.Module]:
        """The modules that carry weights (Linear / Conv2d)."""
        return [m for m in self.layers if isinstance(m, (nn.Linear, nn.Conv2d))]

    def config(self) -> dict[str, Any]:
        if self.ops is None:
            raise TypeError(
                "this connection was built from raw modules and has no op spec; build it "
                "with ops=[...] to save it (see snnsim.core.ops for the supported ops)"
            )
        return {"ops": [dict(o) for o in self.ops], "event_driven": self.event_driven}

    def extra_repr(self) -> str:
        return f"ops={[o['op'] for o in self.ops] if self.ops else 'modules'}, event_driven={self.event_driven}"

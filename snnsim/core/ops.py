"""Synaptic operations: the torch modules that a connection applies to spikes.

A connection is a list of *ops*, each a JSON-ready dict such as
``{"op": "conv2d", "out_channels": 12, "kernel_size": 5}``. ``build_ops`` turns the
list into torch modules and infers the output shape, so a network spec needs no
hand-computed layer sizes and can be saved as JSON beside its weights.

Ops (parameters in brackets are optional):

- ``linear``: out_features [bias=False]; flattens its input first.
- ``conv2d``: out_channels, kernel_size [stride=1, padding=0, bias=False].
- ``avgpool2d``: kernel_size [stride=kernel_size].
- ``maxpool2d``: kernel_size [stride=kernel_size]; *rate-based* max-pooling: each
  window passes on the spikes of the input that has spiked most so far
  (a running spike count), so it pools firing rates rather than OR-ing spikes.
- ``sumpool2d``: kernel_size [stride=kernel_size]; the sum over each window (NIR's SumPool2d).
- ``scale``: no parameters; a per-feature multiply by its ``weight`` (shaped like the input,
  ones until set; NIR's Scale).
- ``flatten``: no parameters.
- ``dropout``: p; one mask per sample shared by all time steps (Lee et al. 2020),
  active only in training mode.
- ``batchnorm``: [eps=1e-5, momentum=0.1]; BatchNorm1d/2d by input rank, statistics over
  all steps and samples of a batch (``[T * B, ...]``).
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from snnsim.core import schema
from snnsim.core.registry import Registry
from snnsim.errors import UserError


def as_float(x: torch.Tensor) -> torch.Tensor:
    """``x`` unchanged if floating, else (bool/integer spikes) cast to torch's default dtype.
    A connection casts the result to its weights' dtype before a Linear/Conv2d."""
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


class TemporalModule(nn.Module):
    """A module with state across time steps: ``step`` for one step, ``multi`` for all."""

    def step(self, x: torch.Tensor) -> torch.Tensor:  # [B, ...] -> [B, ...]
        raise NotImplementedError

    def multi(self, x: torch.Tensor) -> torch.Tensor:  # [T, B, ...] -> [T, B, ...]
        raise NotImplementedError

    def reset_state(self) -> None:
        raise NotImplementedError


class RateMaxPool2d(TemporalModule):
    """Max-pooling of firing rates: per window, forward the current spike of the input
    with the largest running spike count (ties: the first in the window)."""

    #: capability read by tools (analysis.synops): a spiking max-pool over square
    #: ``kernel_size``/``stride`` windows that passes at most one input per window and step
    spiking_max_pool = True

    def __init__(self, kernel_size: int, stride: Optional[int] = None) -> None:
        super().__init__()
        self.kernel_size = int(kernel_size)
        self.stride = int(stride) if stride is not None else self.kernel_size
        self.counts: Optional[torch.Tensor] = None

    def _pool(self, counts: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        pooled, idx = F.max_pool2d(counts, self.kernel_size, self.stride, return_indices=True)
        flat = s.reshape(*s.shape[:2], -1)
        return flat.gather(2, idx.flatten(2)).view_as(pooled)

    def step(self, x: torch.Tensor) -> torch.Tensor:
        x = as_float(x)
        if self.counts is None or self.counts.shape != x.shape:
            self.counts = torch.zeros_like(x)
        self.counts = self.counts + x
        return self._pool(self.counts, x)

    def multi(self, x: torch.Tensor) -> torch.Tensor:
        x = as_float(x)
        counts = x.cumsum(0)
        out = self._pool(counts.flatten(0, 1), x.flatten(0, 1))
        return out.unflatten(0, x.shape[:2])

    def reset_state(self) -> None:
        self.counts = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stateless use (e.g. inside an ANN): ordinary max-pooling."""
        return F.max_pool2d(x, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class TemporalDropout(TemporalModule):
    """Dropout with one mask per sample, shared by all time steps (scaled by 1/(1-p)).

    Masks come from torch's global generator unless :func:`dropout_masks` names a
    generator and this process's rows of a larger (global) batch: then the masks of the
    whole batch are drawn and the rows kept, so that a sample's mask does not depend on
    which data-parallel rank trains it (see :mod:`snnsim.training.distributed`)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= float(p) < 1.0:
            raise UserError(f"dropout p must be in [0, 1), got {p}")
        self.p = float(p)
        self.mask: Optional[torch.Tensor] = None
        self.generator: Optional[torch.Generator] = None
        self.rows: Optional[tuple[int, int, int]] = None  # (global batch, first row, stride)

    def _new_mask(self, like: torch.Tensor) -> torch.Tensor:
        """Mask ``[B, ...]`` for ``like`` (one step of the input, ``[B, ...]``)."""
        shape, device = tuple(like.shape), like.device
        if self.generator is not None:
            device = self.generator.device
        if self.rows is not None:
            shape = (self.rows[0], *shape[1:])
        keep = torch.rand(shape, generator=self.generator, device=device) >= self.p
        if self.rows is not None:
            keep = keep[self.rows[1] :: self.rows[2]]
            if keep.shape[0] != like.shape[0]:
                raise ValueError(
                    f"dropout rows {self.rows} select {keep.shape[0]} samples, the input has {like.shape[0]}"
                )
        return keep.to(like.device, as_float(like).dtype) / (1.0 - self.p)

    def step(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.mask is None or self.mask.shape != x.shape:
            self.mask = self._new_mask(x)
        return as_float(x) * self.mask

    def multi(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return as_float(x) * self._new_mask(x[0]).unsqueeze(0)

    def reset_state(self) -> None:
        self.mask = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


@contextmanager
def dropout_masks(
    module: nn.Module, generator: Optional[torch.Generator], batch: int, rank: int = 0, world: int = 1
) -> Iterator[None]:
    """Inside the block, every :class:`TemporalDropout` in ``module`` draws the masks of
    a ``batch``-sample batch from ``generator`` and keeps rows ``rank::world`` (this
    rank's share, see :func:`snnsim.training.distributed.shard`); restored afterwards."""
    drops = [m for m in module.modules() if isinstance(m, TemporalDropout)]
    saved = [(m.generator, m.rows) for m in drops]
    for m in drops:
        m.generator, m.rows = generator, (int(batch), int(rank), int(world))
    try:
        yield
    finally:
        for m, (gen, rows) in zip(drops, saved):
            m.generator, m.rows = gen, rows


def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def _need_chw(op: str, shape: Sequence[int]) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise UserError(f"op {op!r} needs a (C, H, W) input, got shape {tuple(shape)}")
    return int(shape[0]), int(shape[1]), int(shape[2])


def _linear(shape: Sequence[int], out_features: int, bias: bool = False) -> tuple[nn.Module, list[int]]:
    n_in = 1
    for d in shape:
        n_in *= int(d)
    return nn.Linear(n_in, int(out_features), bias=bool(bias)), [int(out_features)]


def _conv2d(
    shape: Sequence[int], out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0, bias: bool = False
) -> tuple[nn.Module, list[int]]:
    c, h, w = _need_chw("conv2d", shape)
    mod = nn.Conv2d(c, int(out_channels), int(kernel_size), int(stride), int(padding), bias=bool(bias))
    out = [int(out_channels), _conv_out(h, kernel_size, stride, padding), _conv_out(w, kernel_size, stride, padding)]
    return mod, out


def _avgpool2d(shape: Sequence[int], kernel_size: int, stride: Optional[int] = None) -> tuple[nn.Module, list[int]]:
    c, h, w = _need_chw("avgpool2d", shape)
    s = int(stride) if stride is not None else int(kernel_size)
    return nn.AvgPool2d(int(kernel_size), s), [c, _conv_out(h, kernel_size, s, 0), _conv_out(w, kernel_size, s, 0)]


def _maxpool2d(shape: Sequence[int], kernel_size: int, stride: Optional[int] = None) -> tuple[nn.Module, list[int]]:
    c, h, w = _need_chw("maxpool2d", shape)
    s = int(stride) if stride is not None else int(kernel_size)
    return RateMaxPool2d(kernel_size, s), [c, _conv_out(h, kernel_size, s, 0), _conv_out(w, kernel_size, s, 0)]


def _sumpool2d(shape: Sequence[int], kernel_size: int, stride: Optional[int] = None) -> tuple[nn.Module, list[int]]:
    """Sum over each window (NIR's SumPool2d): an AvgPool2d that divides by 1."""
    c, h, w = _need_chw("sumpool2d", shape)
    s = int(stride) if stride is not None else int(kernel_size)
    return (
        nn.AvgPool2d(int(kernel_size), s, divisor_override=1),
        [c, _conv_out(h, kernel_size, s, 0), _conv_out(w, kernel_size, s, 0)],
    )


class Scale(nn.Module):
    """Per-feature multiply (NIR's Scale): ``x * weight``, ``weight`` shaped like one sample
    (all ones until set, e.g. by NIR import); ``x``: ``[N, *shape]``."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(*[int(d) for d in shape]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return as_float(x) * self.weight


def _scale(shape: Sequence[int]) -> tuple[nn.Module, list[int]]:
    return Scale(shape), list(shape)


def _flatten(shape: Sequence[int]) -> tuple[nn.Module, list[int]]:
    n = 1
    for d in shape:
        n *= int(d)
    return nn.Flatten(), [n]


def _dropout(shape: Sequence[int], p: float = 0.5) -> tuple[nn.Module, list[int]]:
    return TemporalDropout(p), [int(d) for d in shape]


def _batchnorm(shape: Sequence[int], eps: float = 1e-5, momentum: float = 0.1) -> tuple[nn.Module, list[int]]:
    if len(shape) == 3:
        return nn.BatchNorm2d(int(shape[0]), eps=eps, momentum=momentum), [int(d) for d in shape]
    if len(shape) == 1:
        return nn.BatchNorm1d(int(shape[0]), eps=eps, momentum=momentum), [int(d) for d in shape]
    raise UserError(f"batchnorm needs a (C,) or (C, H, W) input, got shape {tuple(shape)}")


OPS: Registry = Registry("op")
#: the JSON parameters of each op (besides ``op``), as JSON Schema fragments: the one
#: declaration that :mod:`snnsim.core.spec` validates specs against
OP_PARAMS: Registry = Registry("op")


def register_op(
    name: str,
    builder: Callable[..., tuple[nn.Module, list[int]]],
    params: dict[str, dict[str, Any]],
    *,
    replace: bool = False,
) -> None:
    """Add an op: ``builder(in_shape, **params) -> (module, out_shape)``.

    ``params`` declares the builder's keyword parameters (name -> JSON Schema, see
    :mod:`snnsim.core.schema`); it must name exactly the builder's parameters after ``shape``,
    and those without a default are required in a spec. A name already registered to
    another builder is refused unless ``replace=True`` (as :func:`snnsim.core.nodes.register_node`).
    """
    if name in OPS.keys() and OPS[name] is not builder and not replace:
        raise ValueError(f"op {name!r} is already registered to {OPS[name].__name__}; pass replace=True")
    accepted = list(inspect.signature(builder).parameters)[1:]
    if sorted(accepted) != sorted(params):
        raise ValueError(
            f"op {name!r}: declared parameters {sorted(params)} differ from the builder's {sorted(accepted)}"
        )
    OPS[name] = builder
    OP_PARAMS[name] = dict(params)


def op_required(name: str) -> list[str]:
    """The parameters of op ``name`` without a default (required in a spec)."""
    sig = list(inspect.signature(OPS[name]).parameters.values())[1:]
    return [p.name for p in sig if p.default is inspect.Parameter.empty]


_KERNEL = {"kernel_size": schema.integer(1), "stride": schema.optional(schema.integer(1))}
register_op("linear", _linear, {"out_features": schema.integer(1), "bias": schema.boolean()})
register_op(
    "conv2d",
    _conv2d,
    {
        "out_channels": schema.integer(1),
        "kernel_size": schema.integer(1),
        "stride": schema.integer(1),
        "padding": schema.integer(0),
        "bias": schema.boolean(),
    },
)
register_op("avgpool2d", _avgpool2d, _KERNEL)
register_op("maxpool2d", _maxpool2d, _KERNEL)
register_op("sumpool2d", _sumpool2d, _KERNEL)
register_op("scale", _scale, {})
register_op("flatten", _flatten, {})
register_op("dropout", _dropout, {"p": schema.number(minimum=0, exclusive_maximum=1)})
register_op(
    "batchnorm",
    _batchnorm,
    {"eps": schema.number(exclusive_minimum=0), "momentum": schema.optional(schema.number(minimum=0, maximum=1))},
)


def build_ops(ops: Sequence[dict[str, Any]], in_shape: Sequence[int]) -> tuple[list[nn.Module], list[int]]:
    """Build the modules of ``ops`` for an input of shape ``in_shape`` (no batch dim).

    Returns (modules, output shape). Raises ValueError for unknown ops or bad parameters.
    """
    if not ops:
        raise UserError("a connection needs at least one op, e.g. [{'op': 'linear', 'out_features': 10}]")
    shape = [int(d) for d in in_shape]
    modules: list[nn.Module] = []
    for i, spec in enumerate(ops):
        if not isinstance(spec, dict) or "op" not in spec:
            raise UserError(f"op #{i} must be a dict with an 'op' key, got {spec!r}")
        params = {k: v for k, v in spec.items() if k != "op"}
        name = spec["op"]
        if name not in OPS:
            raise UserError(f"unknown op {name!r} (op #{i}); known ops: {OPS.known()}")
        try:
            mod, shape = OPS[name](shape, **params)
        except TypeError as err:
            raise UserError(f"bad parameters for op {name!r} (op #{i}): {err}") from None
        if min(shape) < 1:
            raise UserError(f"op {name!r} (op #{i}) gives an empty output shape {shape}")
        modules.append(mod)
    return modules, shape

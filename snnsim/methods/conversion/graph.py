"""Turn a ReLU ANN (any ``nn.Module``) into a linear chain of supported steps.

:func:`trace_chain` traces the model with ``torch.fx`` (falling back to walking nested
``nn.Sequential`` children when tracing fails) and returns a list of :class:`Step`,
one per layer, in execution order. The model must be a linear chain: every layer
takes the previous layer's output as its only tensor input. Anything else raises a
ValueError/TypeError naming the offending layer and listing what is supported.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from snnsim.errors import UserError, UserTypeError

SUPPORTED = (
    "Linear, Conv2d, AvgPool2d, MaxPool2d, Flatten (nn.Flatten, torch.flatten, x.flatten(1), "
    "x.view(B, -1)), ReLU (nn.ReLU, F.relu, torch.relu, x.relu()), Dropout, BatchNorm1d/2d "
    "(directly after a Linear/Conv2d), Identity; in nested nn.Sequential or custom modules"
)

#: Step kinds: the weighted ones become spiking layers, the rest ops or no-ops.
KINDS = ("linear", "conv2d", "avgpool2d", "maxpool2d", "flatten", "relu", "dropout", "batchnorm", "identity")

_RELU_FUNCS = {F.relu, torch.relu, torch.relu_, F.relu_}
_DROPOUT_FUNCS = {F.dropout, F.dropout1d, F.dropout2d}
_FLATTEN_METHODS = {"flatten", "view", "reshape"}
_SHAPE_METHODS = {"size", "dim"}


@dataclass
class Step:
    """One layer of the chain. ``name``: where it sits in the model (for messages)."""

    kind: str
    name: str
    module: Optional[nn.Module] = None


def unsupported(name: str, what: str) -> ValueError:
    return UserError(f"unsupported layer {name!r} ({what}) for ANN-to-SNN conversion; supported: {SUPPORTED}")


def _square(value: Any, what: str, name: str) -> int:
    if isinstance(value, (tuple, list)):
        if len(set(int(v) for v in value)) != 1:
            raise UserError(f"layer {name!r}: non-square {what} {tuple(value)} is not supported (use equal sizes)")
        value = value[0]
    return int(value)


def _check_conv(m: nn.Conv2d, name: str) -> None:
    if m.groups != 1:
        raise UserError(f"layer {name!r}: grouped convolution (groups={m.groups}) is not supported")
    if _square(m.dilation, "dilation", name) != 1:
        raise UserError(f"layer {name!r}: dilated convolution is not supported")
    if m.padding_mode != "zeros":
        raise UserError(f"layer {name!r}: padding_mode {m.padding_mode!r} is not supported (only 'zeros')")
    if isinstance(m.padding, str):
        raise UserError(f"layer {name!r}: padding={m.padding!r} is not supported; give an int padding")
    _square(m.kernel_size, "kernel_size", name)
    _square(m.stride, "stride", name)
    _square(m.padding, "padding", name)


def _check_pool(m: nn.Module, name: str) -> None:
    if _square(m.padding, "padding", name) != 0 or m.ceil_mode:
        raise UserError(f"layer {name!r}: pooling with padding or ceil_mode is not supported")
    if isinstance(m, nn.AvgPool2d) and m.divisor_override is not None:
        raise UserError(f"layer {name!r}: AvgPool2d divisor_override is not supported")
    if isinstance(m, nn.MaxPool2d) and (_square(m.dilation, "dilation", name) != 1 or m.return_indices):
        raise UserError(f"layer {name!r}: MaxPool2d with dilation or return_indices is not supported")
    _square(m.kernel_size, "kernel_size", name)
    _square(m.stride if m.stride is not None else m.kernel_size, "stride", name)


def module_kind(m: nn.Module, name: str) -> str:
    """The step kind of a leaf module, or raise the 'unsupported layer' ValueError."""
    if isinstance(m, nn.Linear):
        return "linear"
    if isinstance(m, nn.Conv2d):
        _check_conv(m, name)
        return "conv2d"
    if isinstance(m, nn.AvgPool2d):
        _check_pool(m, name)
        return "avgpool2d"
    if isinstance(m, nn.MaxPool2d):
        _check_pool(m, name)
        return "maxpool2d"
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise UserError(f"layer {name!r}: only Flatten(start_dim=1, end_dim=-1) is supported")
        return "flatten"
    if isinstance(m, nn.ReLU):
        return "relu"
    if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d)):
        return "dropout"
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if not m.track_running_stats or m.running_mean is None:
            raise UserError(f"layer {name!r}: BatchNorm without running statistics cannot be folded")
        return "batchnorm"
    if isinstance(m, nn.Identity):
        return "identity"
    raise unsupported(name, type(m).__name__)


# --------------------------------------------------------------------------- fx tracing
def _is_shape_node(node: fx.Node) -> bool:
    """Nodes that compute sizes (``x.size(0)``, ``x.shape[0]``), not tensors."""
    if node.op == "call_method" and node.target in _SHAPE_METHODS:
        return True
    if node.op == "call_function" and node.target is getattr and len(node.args) > 1 and node.args[1] == "shape":
        return True
    if node.op == "call_function" and node.target is operator.getitem:
        src = node.args[0]
        return isinstance(src, fx.Node) and _is_shape_node(src)
    return False


def _tensor_args(node: fx.Node) -> list[fx.Node]:
    found: list[fx.Node] = []
    fx.node.map_arg((node.args, node.kwargs), lambda n: found.append(n) or n)
    return [n for n in found if not _is_shape_node(n)]


def _flatten_args_ok(node: fx.Node) -> bool:
    """``torch.flatten(x, 1)`` / ``x.flatten(1)``: start_dim must be 1 and end_dim -1."""
    args = list(node.args[1:])
    start = node.kwargs.get("start_dim", args[0] if args else 0)
    end = node.kwargs.get("end_dim", args[1] if len(args) > 1 else -1)
    return start == 1 and end == -1


def _node_kind(gm: fx.GraphModule, node: fx.Node) -> tuple[str, Optional[nn.Module], str]:
    """(kind, module, name) of a tensor-computing node; raises for unsupported ones."""
    if node.op == "call_module":
        mod = gm.get_submodule(str(node.target))
        return module_kind(mod, str(node.target)), mod, str(node.target)
    if node.op == "call_function":
        fname = getattr(node.target, "__name__", str(node.target))
        if node.target in _RELU_FUNCS:
            return "relu", None, f"{fname} ({node.name})"
        if node.target in _DROPOUT_FUNCS:
            return "dropout", None, f"{fname} ({node.name})"
        if node.target is torch.flatten:
            if not _flatten_args_ok(node):
                raise UserError(f"{node.name}: only torch.flatten(x, 1) is supported")
            return "flatten", None, f"flatten ({node.name})"
        raise unsupported(node.name, f"function {fname}")
    if node.op == "call_method":
        if node.target in ("relu", "relu_"):
            return "relu", None, f"x.{node.target}() ({node.name})"
        if node.target in _FLATTEN_METHODS:
            if node.target == "flatten" and not _flatten_args_ok(node):
                raise UserError(f"{node.name}: only x.flatten(1) is supported")
            # view/reshape are taken as flatten(1); convert() checks the chain against
            # the model on a probe input, so any other reshape is caught there.
            return "flatten", None, f"x.{node.target}(...) ({node.name})"
        if node.target == "contiguous":
            return "identity", None, node.name
        raise unsupported(node.name, f"method x.{node.target}()")
    raise unsupported(node.name, f"fx op {node.op} {node.target}")


def _chain_from_graph(gm: fx.GraphModule) -> list[Step]:
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise UserError(f"the model's forward must take exactly one input tensor, got {len(placeholders)}")
    prev = placeholders[0]
    steps: list[Step] = []
    for node in gm.graph.nodes:
        if node.op == "placeholder" or _is_shape_node(node):
            continue
        if node.op == "output":
            out = node.args[0]
            if out is not prev:
                raise UserError(
                    f"the model is not a linear chain: it returns {out!r}, not the output of its last layer "
                    f"{prev.name!r} (only a single tensor output is supported)"
                )
            break
        if node.op == "get_attr":
            raise unsupported(node.name, f"direct use of parameter/buffer {node.target!r} in forward")
        kind, mod, name = _node_kind(gm, node)
        args = _tensor_args(node)
        if len(args) != 1 or args[0] is not prev:
            got = [a.name for a in args]
            raise UserError(
                f"the model is not a linear chain: layer {name!r} takes {got}, expected only the output "
                f"of the previous layer {prev.name!r} (branches, residuals and concatenations are not supported)"
            )
        steps.append(Step(kind, name, mod))
        prev = node
    return steps


def _walk_sequential(seq: nn.Module, prefix: str = "") -> list[Step]:
    steps: list[Step] = []
    for child_name, child in seq.named_children():
        name = f"{prefix}{child_name}"
        if isinstance(child, nn.Sequential):
            steps += _walk_sequential(child, name + ".")
        else:
            steps.append(Step(module_kind(child, name), name, child))
    return steps


def trace_chain(model: nn.Module) -> list[Step]:
    """The model as a list of :class:`Step` in execution order.

    Tries ``torch.fx.symbolic_trace``; if tracing itself fails (e.g. data-dependent
    control flow) and ``model`` is an ``nn.Sequential``, walks its (nested) children.
    Raises ValueError for unsupported layers or non-chain graphs, TypeError for a
    model that is not an ``nn.Module`` or that can neither be traced nor walked.
    """
    if not isinstance(model, nn.Module):
        raise UserTypeError(f"expected a torch nn.Module (the ANN), got {type(model).__name__}")
    try:
        gm = fx.symbolic_trace(model)
    except Exception as err:  # noqa: BLE001 - any tracing failure falls back
        if isinstance(model, nn.Sequential):
            return _walk_sequential(model)
        raise UserTypeError(
            f"could not trace {type(model).__name__} with torch.fx ({type(err).__name__}: {err}) and it is "
            "not an nn.Sequential to walk instead; write its forward without data-dependent control flow"
        ) from None
    return _chain_from_graph(gm)

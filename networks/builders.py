"""Builders of the papers' networks as specs and as BindsNET Networks.

Every builder has a ``*_spec`` twin returning the JSON-ready spec (see
:mod:`snnsim.core.spec`), so a network can be tweaked before it is built or saved.

Shared keyword arguments:
    neuron: "if" or "lif" for the hidden layers.
    thresh, reset, leak: neuron parameters of hidden layers ("reset": "zero"/"subtract";
        "leak" only for "lif").
    output: "spiking" (IF/LIF read-out, argmax of spike counts) or "integrator"
        (non-spiking potential read-out).
    bias: whether weighted ops get a bias (the conversion papers use none).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Optional, Sequence

from bindsnet.network import Network

from snnsim import plugins
from snnsim.core.spec import build_network
from snnsim.errors import UserError, UserTypeError

MNIST_SHAPE = (1, 28, 28)


def _neuron(neuron: str, thresh: float, reset: str, leak: float) -> dict[str, Any]:
    if neuron == "if":
        return {"type": "if", "thresh": thresh, "reset": reset}
    if neuron == "lif":
        return {"type": "lif", "thresh": thresh, "reset": reset, "leak": leak}
    raise UserError(f"neuron must be 'if' or 'lif', got {neuron!r}")


def _output(output: str, neuron: dict[str, Any]) -> dict[str, Any]:
    if output == "spiking":
        return dict(neuron)
    if output == "integrator":
        return {"type": "integrator", "leak": neuron.get("leak", 1.0)}
    raise UserError(f"output must be 'spiking' or 'integrator', got {output!r}")


def _check_shape(input_shape: Sequence[int]) -> list[int]:
    shape = [int(d) for d in input_shape]
    if not shape or min(shape) < 1:
        raise UserError(f"input_shape must be positive dimensions, got {tuple(input_shape)}")
    return shape


def fc_spec(
    sizes: Sequence[int],
    *,
    input_shape: Optional[Sequence[int]] = None,
    neuron: str = "if",
    thresh: float = 1.0,
    reset: str = "zero",
    leak: float = 0.99,
    output: str = "spiking",
    bias: bool = False,
    dt: float = 1.0,
) -> dict[str, Any]:
    """Fully connected ``sizes[0]-sizes[1]-...-sizes[-1]`` (e.g. 784-1200-1200-10).

    ``input_shape`` (e.g. (1, 28, 28)) shapes the input layer; its size must equal sizes[0].
    """
    if (
        isinstance(sizes, str)
        or not isinstance(sizes, Sequence)
        or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in sizes)
    ):
        raise UserTypeError(f"sizes must be a list of ints (layer sizes), got {sizes!r}"[:200])
    if len(sizes) < 2 or min(int(s) for s in sizes) < 1:
        raise UserError(f"sizes must list at least two positive layer sizes, got {list(sizes)}")
    in_shape = _check_shape(input_shape) if input_shape is not None else [int(sizes[0])]
    if math.prod(in_shape) != int(sizes[0]):
        raise UserError(f"input_shape {tuple(in_shape)} has {math.prod(in_shape)} values, but sizes[0] = {sizes[0]}")
    hidden = _neuron(neuron, thresh, reset, leak)
    names = ["input"] + [f"fc{i}" for i in range(1, len(sizes) - 1)] + ["out"]
    layers = [{"name": "input", "type": "input", "shape": in_shape}]
    layers += [{"name": n, **hidden} for n in names[1:-1]]
    layers.append({"name": "out", **_output(output, hidden)})
    conns = [
        {"source": a, "target": b, "ops": [{"op": "linear", "out_features": int(n), "bias": bias}]}
        for a, b, n in zip(names[:-1], names[1:], sizes[1:])
    ]
    return {"dt": dt, "layers": layers, "connections": conns}


def conv_spec(
    blocks: Sequence[tuple[int, int]],
    n_classes: int,
    *,
    input_shape: Sequence[int] = MNIST_SHAPE,
    pool: int = 2,
    hidden_fc: Sequence[int] = (),
    pool_layers: bool = False,
    pool_thresh: float = 0.75,
    neuron: str = "if",
    thresh: float = 1.0,
    reset: str = "zero",
    leak: float = 0.99,
    output: str = "spiking",
    bias: bool = False,
    dt: float = 1.0,
) -> dict[str, Any]:
    """Conv net: per block ``(channels, kernel)`` a conv layer then ``pool``x``pool`` average
    pooling, then the fully connected layers ``hidden_fc`` and ``n_classes`` outputs.

    Average pooling is linear, so by default it is fused into the next connection
    (exact for rates, no extra spiking layer). ``pool_layers=True`` makes each pooling
    its own IF layer with threshold ``pool_thresh`` (Lee et al. 2020 use 0.75).
    """
    hidden = _neuron(neuron, thresh, reset, leak)
    layers: list[dict[str, Any]] = [{"name": "input", "type": "input", "shape": _check_shape(input_shape)}]
    conns: list[dict[str, Any]] = []
    prev, pending = "input", []  # ops waiting to be put in front of the next weighted op
    for i, (channels, kernel) in enumerate(blocks, start=1):
        name = f"conv{i}"
        layers.append({"name": name, **hidden})
        conns.append(
            {
                "source": prev,
                "target": name,
                "ops": pending
                + [{"op": "conv2d", "out_channels": int(channels), "kernel_size": int(kernel), "bias": bias}],
            }
        )
        prev, pending = name, [{"op": "avgpool2d", "kernel_size": int(pool)}]
        if pool_layers:
            pname = f"pool{i}"
            layers.append({"name": pname, "type": "if", "thresh": pool_thresh, "reset": reset})
            conns.append({"source": prev, "target": pname, "ops": pending})
            prev, pending = pname, []
    sizes = list(hidden_fc) + [int(n_classes)]
    for j, n in enumerate(sizes, start=1):
        last = j == len(sizes)
        name = "out" if last else f"fc{j}"
        layers.append({"name": name, **(_output(output, hidden) if last else hidden)})
        conns.append(
            {"source": prev, "target": name, "ops": pending + [{"op": "linear", "out_features": int(n), "bias": bias}]}
        )
        prev, pending = name, []
    return {"dt": dt, "layers": layers, "connections": conns}


def diehl_fc_spec(input_shape: Sequence[int] = MNIST_SHAPE, n_classes: int = 10, **kw: Any) -> dict[str, Any]:
    """Diehl et al. (2015) FC net: 784-1200-1200-10 (input size from ``input_shape``)."""
    return fc_spec([math.prod(_check_shape(input_shape)), 1200, 1200, n_classes], input_shape=input_shape, **kw)


def scnn_spec(input_shape: Sequence[int] = MNIST_SHAPE, n_classes: int = 10, **kw: Any) -> dict[str, Any]:
    """Diehl et al. (2015) spiking CNN: 28x28-12c5-2a-64c5-2a-10."""
    return conv_spec([(12, 5), (64, 5)], n_classes, input_shape=input_shape, **kw)


def lenet_spec(input_shape: Sequence[int] = MNIST_SHAPE, n_classes: int = 10, **kw: Any) -> dict[str, Any]:
    """LeNet of Lee et al. (2020): 28x28-20c5-AP2-50c5-AP2-200-10."""
    return conv_spec([(20, 5), (50, 5)], n_classes, input_shape=input_shape, hidden_fc=(200,), **kw)


def _declared_spec(name: str) -> Callable[..., dict[str, Any]]:
    """The spec function of network ``name`` declared in another module (:mod:`snnsim.plugins`:
    ResNet-19 lives with STBP, a third party's with its package), imported on the first call."""

    def spec(*args: Any, **kw: Any) -> dict[str, Any]:
        return plugins.load("network", name)(*args, **kw)

    spec.__name__ = spec.__qualname__ = f"{name}_spec".replace("-", "_")
    spec.__doc__ = f"The spec of network {name!r} ({plugins.table()['network'][name]}), loaded on first use."
    return spec


SPECS: dict[str, Callable[..., dict[str, Any]]] = {
    "fc": diehl_fc_spec,
    "scnn": scnn_spec,
    "lenet": lenet_spec,
    **{n: _declared_spec(n) for n in plugins.names("network") if plugins.module_of("network", n) != __name__},
}
#: The spiking ResNet-19 with tdBN of STBP (:func:`snnsim.methods.stbp.resnet.resnet19_spec`).
resnet19_spec = SPECS["resnet19"]


def fc(sizes: Sequence[int], **kw: Any) -> Network:
    """Build :func:`fc_spec` as a Network."""
    return build_network(fc_spec(sizes, **kw))


def diehl_fc(**kw: Any) -> Network:
    """Build :func:`diehl_fc_spec` as a Network."""
    return build_network(diehl_fc_spec(**kw))


def scnn(**kw: Any) -> Network:
    """Build :func:`scnn_spec` as a Network."""
    return build_network(scnn_spec(**kw))


def lenet(**kw: Any) -> Network:
    """Build :func:`lenet_spec` as a Network."""
    return build_network(lenet_spec(**kw))


def build(name: str, **kw: Any) -> Network:
    """Build a named network ("fc", "scnn", "lenet", "resnet19") with keyword options."""
    if name not in SPECS:
        raise UserError(f"unknown network {name!r}; known: {sorted(SPECS)}")
    return build_network(SPECS[name](**kw))

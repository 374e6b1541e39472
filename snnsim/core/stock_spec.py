"""Stock BindsNET node groups and connections as spec entries (describe, validate, build, state).

What the fast engine runs (:mod:`snnsim.engine.stock`) can be saved, loaded and described:

- node groups ``IFNodes``, ``LIFNodes``, ``AdaptiveLIFNodes``, ``DiehlAndCookNodes`` (spec
  types ``bindsnet.<Class>``) with their constructor parameters (``thresh``, ``rest``,
  ``reset``, ``refrac``, ``tc_decay``, ``lbound``, ``theta_plus``, ``tc_theta_decay``,
  ``one_spike``, ``traces``, ``traces_additive``, ``tc_trace``, ``trace_scale``, ``sum_input``:
  numbers, or nested lists for per-neuron values); the learned ``theta`` goes to ``weights.pt``;
- ``Input`` with its trace options (spec type ``input``, keys only where not the defaults);
- a ``Connection`` (``"class": "bindsnet.Connection"``): ``w``/``b`` in ``weights.pt``;
  ``wmin``/``wmax`` (null for -inf/+inf), ``norm``, ``weight_decay``, ``dtype`` and its
  ``update_rule`` named by class with ``nu``, ``reduction`` and the rule's own parameters;
- a ``MulticompartmentConnection`` whose pipeline holds only ``Weight`` features
  (``bindsnet.models.DiehlAndCook2015``): each feature's ``range``, ``norm``,
  ``norm_frequency`` and ``MCC_learning`` rule; values in ``weights.pt``.

Everything else (other node classes, a custom learning rule, sparse or polarity-enforcing
features, ``Dales_rule``, per-synapse ``wmin``/``wmax``/``nu``) is refused with one line.
Runtime state (potentials, traces, eligibilities) is not saved: a loaded network starts
reset, as a new one does.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from bindsnet.learning import MCC_learning
from bindsnet.learning import learning as stock_rules
from bindsnet.models import DiehlAndCook2015
from bindsnet.network import Network
from bindsnet.network.nodes import AdaptiveLIFNodes, DiehlAndCookNodes, IFNodes, Input, LIFNodes, Nodes
from bindsnet.network.topology import Connection, MulticompartmentConnection
from bindsnet.network.topology_features import Weight

from snnsim.core import schema
from snnsim.core.nodes import per_neuron_schema, register_node
from snnsim.errors import UserError, UserTypeError

PREFIX = "bindsnet."
STOCK_NODE_CLASSES = (IFNodes, LIFNodes, AdaptiveLIFNodes, DiehlAndCookNodes)
_NUM = per_neuron_schema(schema.number())
_TRACE = {
    "traces": schema.boolean(),
    "traces_additive": schema.boolean(),
    "tc_trace": _NUM,
    "trace_scale": _NUM,
    "sum_input": schema.boolean(),
}
_IF = {**_TRACE, "thresh": _NUM, "reset": _NUM, "refrac": _NUM, "lbound": schema.optional(schema.number())}
_LIF = {**_IF, "rest": _NUM, "tc_decay": _NUM}
_ADAPTIVE = {**_LIF, "theta_plus": _NUM, "tc_theta_decay": _NUM}
#: JSON parameters of each stock node class (constructor arguments besides n/shape)
STOCK_NODE_PARAMS: dict[type, dict[str, Any]] = {
    IFNodes: _IF,
    LIFNodes: _LIF,
    AdaptiveLIFNodes: _ADAPTIVE,
    DiehlAndCookNodes: {**_ADAPTIVE, "one_spike": schema.boolean()},
}
#: the trace options of a stock ``Input`` (spec type ``input``)
INPUT_PARAMS = _TRACE
_TRACE_DEFAULTS = {"traces": False, "traces_additive": False, "tc_trace": 20.0, "trace_scale": 1.0, "sum_input": False}
register_node("input", Input, INPUT_PARAMS)
for _cls, _params in STOCK_NODE_PARAMS.items():
    register_node(PREFIX + _cls.__name__, _cls, _params)

#: learning rules of a stock ``Connection`` and of a ``Weight`` feature, by class name
CONNECTION_RULES = {
    c.__name__: c
    for c in (
        stock_rules.NoOp,
        stock_rules.PostPre,
        stock_rules.WeightDependentPostPre,
        stock_rules.Hebbian,
        stock_rules.MSTDP,
        stock_rules.MSTDPET,
    )
}
FEATURE_RULES = {
    c.__name__: c
    for c in (
        MCC_learning.NoOp,
        MCC_learning.PostPre,
        MCC_learning.Hebbian,
        MCC_learning.DiehlAndCook,
        MCC_learning.MSTDP,
        MCC_learning.MSTDPET,
    )
}
#: the rules' own parameters (besides nu, reduction, decay), read back from the rule object
_RULE_EXTRA = {
    "MSTDP": ("tc_plus", "tc_minus", "zero_lag"),
    "MSTDPET": ("tc_plus", "tc_minus", "tc_e_trace", "zero_lag"),
}
REDUCTIONS = {"squeeze": torch.squeeze, "sum": torch.sum, "mean": torch.mean}
DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16}

_RULE = schema.closed_object(
    {
        "type": {"type": "string"},
        "nu": {"type": "array", "minItems": 2, "maxItems": 2, "items": schema.number()},
        "reduction": schema.one_of(sorted(REDUCTIONS)),
        "decay": schema.number(minimum=0),
        "params": {"type": "object"},
    },
    required=["type"],
)
_BOUND = schema.optional(schema.number())
CONNECTION_SCHEMA = schema.closed_object(
    {
        "source": {},
        "target": {},
        "class": {"const": PREFIX + "Connection"},
        "bias": schema.boolean(),
        "wmin": _BOUND,
        "wmax": _BOUND,
        "norm": schema.optional(schema.number()),
        "weight_decay": schema.number(),
        "dtype": schema.one_of(sorted(DTYPES)),
        "rule": _RULE,
    },
    required=["source", "target", "class"],
)
_FEATURE = schema.closed_object(
    {
        "feature": {"const": "Weight"},
        "name": {"type": "string", "minLength": 1},
        "range": {"type": "array", "minItems": 2, "maxItems": 2, "items": _BOUND},
        "norm": schema.optional(schema.number()),
        "norm_frequency": schema.one_of(["sample", "time step"]),
        "dtype": schema.one_of(sorted(DTYPES)),
        "rule": _RULE,
    },
    required=["feature", "name"],
)
MULTICOMPARTMENT_SCHEMA = schema.closed_object(
    {
        "source": {},
        "target": {},
        "class": {"const": PREFIX + "MulticompartmentConnection"},
        "features": {"type": "array", "items": _FEATURE},
        "manual_update": schema.boolean(),
        "traces": schema.boolean(),
        "sparse_compute": schema.boolean(),
    },
    required=["source", "target", "class", "features"],
)
CONNECTION_SCHEMAS = {
    PREFIX + "Connection": CONNECTION_SCHEMA,
    PREFIX + "MulticompartmentConnection": MULTICOMPARTMENT_SCHEMA,
}


# --------------------------------------------------------------------------- values
def _json(value: Any) -> Any:
    """A parameter for JSON: a tensor's number (0-d, int or float as its dtype) or nested lists."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return value.item() if value.dim() == 0 else value.tolist()
    return value


def _scalar(value: Any) -> Any:
    """A number as it was given (a one-element tensor as its number), or None."""
    return value.reshape(()).item() if isinstance(value, torch.Tensor) else value


def _bound(value: Any, where: str) -> Optional[float]:
    """A scalar bound for JSON (None for +-inf); per-element bounds are refused."""
    t = torch.as_tensor(value, dtype=torch.float64)
    if t.numel() != 1:
        raise UserError(f"{where}: per-element bounds (shape {list(t.shape)}) cannot be saved yet; use one number")
    v = float(t.reshape(()))
    return None if v in (float("inf"), float("-inf")) else v


# --------------------------------------------------------------------------- layers
def is_stock_node(layer: Nodes) -> bool:
    return type(layer) in STOCK_NODE_CLASSES


def describe_layer(layer: Nodes) -> dict[str, Any]:
    """Spec entry (without ``name``) of a stock node group or ``Input``."""
    cfg: dict[str, Any] = {
        "type": "input" if type(layer) is Input else PREFIX + type(layer).__name__,
        "shape": [int(d) for d in layer.shape],
    }
    trace = {
        "traces": bool(layer.traces),
        "traces_additive": bool(layer.traces_additive),
        "tc_trace": _json(getattr(layer, "tc_trace", 20.0)),
        "trace_scale": _json(getattr(layer, "trace_scale", 1.0)),
        "sum_input": bool(layer.sum_input),
    }
    if type(layer) is Input:
        return {**cfg, **{k: v for k, v in trace.items() if v != _TRACE_DEFAULTS[k]}}
    for key in STOCK_NODE_PARAMS[type(layer)]:
        if key in trace:
            cfg[key] = trace[key]
        elif key == "lbound":
            cfg[key] = None if layer.lbound is None else _bound(layer.lbound, f"{type(layer).__name__}.lbound")
        elif key == "one_spike":
            cfg[key] = bool(layer.one_spike)
        else:
            cfg[key] = _json(getattr(layer, key))
    return cfg


def build_layer(cls: type, shape: list[int], params: dict[str, Any]) -> Nodes:
    """A layer of class ``cls`` from its spec parameters (BindsNET's constructors take the
    per-neuron nested lists as they are: ``torch.tensor(list)``); snnsim's own node types check
    their parameters themselves (a TTFS bias may be per channel)."""
    stock = cls in STOCK_NODE_CLASSES
    for key, value in params.items():
        if stock and isinstance(value, list) and list(torch.tensor(value).shape) != list(shape):
            raise UserError(
                f"per-neuron {key} has shape {list(torch.tensor(value).shape)}, the layer's shape is {list(shape)}"
            )
    return cls(shape=list(shape), **params)


# --------------------------------------------------------------------------- rules
def _reduction_name(fn: Any, where: str) -> str:
    for name, f in REDUCTIONS.items():
        if fn is f:
            return name
    raise UserError(
        f"{where}: reduction {getattr(fn, '__name__', fn)!r} cannot be saved "
        f"(supported: {', '.join(REDUCTIONS)}, i.e. torch.squeeze, torch.sum, torch.mean)"
    )


def _describe_rule(rule: Any, known: dict[str, type], where: str, decay: Optional[float] = None) -> dict[str, Any]:
    name = type(rule).__name__
    if known.get(name) is not type(rule):
        raise UserError(
            f"{where}: learning rule {type(rule).__module__}.{name} cannot be saved (supported: "
            f"{', '.join(known)}); save the weights yourself and rebuild it in code"
        )
    nu = rule.nu.detach().cpu()
    if nu.numel() != 2:
        raise UserError(f"{where}: per-synapse learning rates nu (shape {list(nu.shape)}) cannot be saved yet")
    out: dict[str, Any] = {
        "type": name,
        "nu": [float(v) for v in nu.reshape(-1)],
        "reduction": _reduction_name(rule.reduction, where),
    }
    if decay is not None:
        out["decay"] = decay
    extra = {k: _json(getattr(rule, k)) for k in _RULE_EXTRA.get(name, ()) if hasattr(rule, k)}
    if extra:
        out["params"] = extra
    return out


def _rule_kwargs(rule: dict[str, Any], known: dict[str, type], where: str) -> dict[str, Any]:
    if rule["type"] not in known:
        raise UserError(
            f"invalid network spec: {where}.rule.type: unknown rule {rule['type']!r}; known: {sorted(known)}"
        )
    kw = {"nu": list(rule.get("nu", [0.0, 0.0])), **dict(rule.get("params", {}))}
    if "reduction" in rule:
        kw["reduction"] = REDUCTIONS[rule["reduction"]]
    return kw


# --------------------------------------------------------------------------- connections
def describe_connection(src: str, tgt: str, conn: Any) -> dict[str, Any]:
    """Spec entry of a stock ``Connection`` or Weight-only ``MulticompartmentConnection``;
    anything else is a one-line :class:`UserTypeError`/:class:`UserError`."""
    where = f"connection {src}->{tgt}"
    if type(conn) is Connection:
        return {"source": src, "target": tgt, **_describe_dense(conn, where)}
    if type(conn) is MulticompartmentConnection:
        return {"source": src, "target": tgt, **_describe_multi(conn, where)}
    raise UserTypeError(
        f"{where} is a {type(conn).__name__}, which cannot be saved or described as a spec; supported: snnsim "
        "ModuleConnection, bindsnet Connection and MulticompartmentConnection (Weight features)"
    )


def _describe_dense(conn: Connection, where: str) -> dict[str, Any]:
    if getattr(conn, "Dales_rule", None) is not None or getattr(conn, "decay", None) is not None:
        raise UserError(f"{where} uses Dales_rule or decay, which cannot be saved yet; rebuild it in code")
    if conn.w.is_sparse or conn.w.dim() != 2:
        raise UserError(f"{where}: a sparse or non-2-D weight cannot be saved")
    dtype = next((k for k, v in DTYPES.items() if v == conn.w.dtype), None)
    if dtype is None:
        raise UserError(f"{where}: weights of dtype {conn.w.dtype} cannot be saved")
    norm = conn.norm
    if isinstance(norm, torch.Tensor) and norm.numel() != 1:
        raise UserError(f"{where}: a per-neuron norm cannot be saved yet; use one number")
    return {
        "class": PREFIX + "Connection",
        "bias": conn.b is not None,
        "wmin": _bound(conn.wmin, where + ".wmin"),
        "wmax": _bound(conn.wmax, where + ".wmax"),
        "norm": _scalar(norm),
        "weight_decay": float(conn.weight_decay or 0.0),
        "dtype": dtype,
        "rule": _describe_rule(conn.update_rule, CONNECTION_RULES, where),
    }


def _describe_multi(conn: MulticompartmentConnection, where: str) -> dict[str, Any]:
    features = []
    for f in conn.pipeline:
        fw = f"{where} feature {getattr(f, 'name', '?')!r}"
        if type(f) is not Weight:
            raise UserError(f"{fw} is a {type(f).__name__}; only Weight features can be saved")
        if f.sparse or f.enforce_polarity or f.parent_feature is not None or f.value.dim() != 2:
            raise UserError(f"{fw} is sparse, enforces polarity or is linked; it cannot be saved")
        norm = f.norm
        if isinstance(norm, torch.Tensor) and norm.numel() != 1:
            raise UserError(f"{fw}: a per-neuron norm cannot be saved yet; use one number")
        rule = f.learning_rule
        if type(rule) is MCC_learning.NoOp:  # keeps nothing (BindsNET drops the feature's range and nu)
            desc, bounds = {"type": "NoOp"}, [None, None]
        else:
            decay = 0.0 if rule.decay == 1.0 else 1.0 - float(rule.decay)
            desc = _describe_rule(rule, FEATURE_RULES, fw, decay)
            bounds = [_bound(rule.min, fw + ".range"), _bound(rule.max, fw + ".range")]
        params = {**desc.get("params", {}), **{k: _json(v) for k, v in f.kwargs.items()}}
        if params:
            desc["params"] = params
        dtype = next((k for k, v in DTYPES.items() if v == f.value.dtype), None)
        if dtype is None:
            raise UserError(f"{fw}: values of dtype {f.value.dtype} cannot be saved")
        features.append(
            {
                "feature": "Weight",
                "name": f.name,
                "range": bounds,
                "norm": _scalar(norm),
                "norm_frequency": f.norm_frequency,
                "dtype": dtype,
                "rule": desc,
            }
        )
    return {
        "class": PREFIX + "MulticompartmentConnection",
        "features": features,
        "manual_update": bool(conn.manual_update),
        "traces": bool(conn.traces),
        "sparse_compute": bool(conn.sparse_compute),
    }


def validate_connection(conn: dict[str, Any], where: str, context: str) -> None:
    """Check a stock connection entry against its schema (``conn["class"]`` is known)."""
    schema.validate(conn, CONNECTION_SCHEMAS[conn["class"]], where, context=context)


def connection_bytes(conn: dict[str, Any], n_src: int, n_tgt: int) -> int:
    """Bytes of the weights a stock connection entry allocates."""
    if conn["class"] == PREFIX + "Connection":
        size = DTYPES[conn.get("dtype", "float32")].itemsize
        return size * n_src * n_tgt + (4 * n_tgt if conn.get("bias") else 0)
    return sum(DTYPES[f.get("dtype", "float32")].itemsize * n_src * n_tgt for f in conn["features"])


def _num(value: Optional[float], default: float) -> float:
    return default if value is None else value


def build_connection(net: Network, c: dict[str, Any], where: str) -> Any:
    """A stock connection from its spec entry, its weights drawn as BindsNET draws them
    (uniform in ``[wmin, wmax]``, or in ``[0, 1]`` clamped; a saved network's are loaded after)."""
    src, tgt = net.layers[c["source"]], net.layers[c["target"]]
    inf = float("inf")
    try:
        if c["class"] == PREFIX + "Connection":
            rule = c.get("rule", {"type": "NoOp"})
            dtype = DTYPES[c.get("dtype", "float32")]
            kw = _rule_kwargs(rule, CONNECTION_RULES, where)
            return Connection(
                src,
                tgt,
                w=None,
                w_dtype=dtype,
                b=torch.zeros(tgt.n) if c.get("bias") else None,
                wmin=_num(c.get("wmin"), -inf),
                wmax=_num(c.get("wmax"), inf),
                norm=c.get("norm"),
                weight_decay=float(c.get("weight_decay", 0.0)),
                update_rule=CONNECTION_RULES[rule["type"]],
                **kw,
            )
        pipeline = []
        for k, f in enumerate(c["features"]):
            rule = f.get("rule", {"type": "NoOp"})
            kw = _rule_kwargs(rule, FEATURE_RULES, f"{where}.features[{k}]")
            lo, hi = f.get("range", [None, None])
            dtype = DTYPES[f.get("dtype", "float32")]
            value = None  # BindsNET's draw, uniform in [0, 1] (float32)
            if dtype != torch.float32:
                value = (
                    torch.zeros(src.n, tgt.n, dtype=dtype).clamp(lo, hi)
                    if (lo, hi) != (None, None)
                    else torch.zeros(src.n, tgt.n, dtype=dtype)
                )
            pipeline.append(
                Weight(
                    f["name"],
                    value,
                    value_dtype=dtype,
                    range=[_num(lo, -inf), _num(hi, inf)],
                    norm=f.get("norm"),
                    norm_frequency=f.get("norm_frequency", "sample"),
                    learning_rule=FEATURE_RULES[rule["type"]],
                    decay=float(rule.get("decay", 0.0)),
                    **kw,
                )
            )
        return MulticompartmentConnection(
            src,
            tgt,
            device=src.s.device,
            pipeline=pipeline,
            manual_update=c.get("manual_update", False),
            traces=c.get("traces", False),
            sparse_compute=c.get("sparse_compute", False),
        )
    except (AssertionError, TypeError, ValueError, RuntimeError) as err:
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"invalid network spec: {where}: bindsnet refused it: {why}") from None


# --------------------------------------------------------------------------- tensors (weights.pt)
def layer_key(name: str, key: str) -> str:
    return f"layer:{name}/{key}"


def stock_state(network: Network) -> dict[str, torch.Tensor]:
    """Tensors of the stock parts: each adaptive layer's ``theta``, each stock connection's
    ``w``/``b`` and each Weight feature's value (keys ``layer:NAME/theta``,
    ``SRC->TGT/w``, ``SRC->TGT/b``, ``SRC->TGT/feature:NAME``)."""
    state = {}
    for name, layer in network.layers.items():
        if isinstance(getattr(layer, "theta", None), torch.Tensor) and is_stock_node(layer):
            state[layer_key(name, "theta")] = layer.theta.detach().cpu().clone()
    for (src, tgt), conn in network.connections.items():
        for key, value in _connection_tensors(conn).items():
            state[f"{src}->{tgt}/{key}"] = value.detach().cpu().clone()
    return state


def _connection_tensors(conn: Any) -> dict[str, torch.Tensor]:
    if type(conn) is Connection:
        return {"w": conn.w, **({"b": conn.b} if conn.b is not None else {})}
    if type(conn) is MulticompartmentConnection:
        return {f"feature:{f.name}": f.value for f in conn.pipeline}
    return {}


def load_stock_state(network: Network, state: dict[str, Any], path: Any) -> set[str]:
    """Copy :func:`stock_state` tensors into ``network`` (shapes checked); returns the keys used."""
    used: set[str] = set()
    targets: dict[str, tuple[torch.Tensor, str]] = {}
    for name, layer in network.layers.items():
        if is_stock_node(layer) and isinstance(getattr(layer, "theta", None), torch.Tensor):
            targets[layer_key(name, "theta")] = (layer.theta, f"layer {name!r}")
    for (src, tgt), conn in network.connections.items():
        for key, tensor in _connection_tensors(conn).items():
            targets[f"{src}->{tgt}/{key}"] = (tensor, f"connection {src}->{tgt}")
    with torch.no_grad():
        for key, (tensor, what) in targets.items():
            if key not in state:
                raise UserError(f"{path}: {what} has no saved {key.rsplit('/', 1)[1]!r} (missing {key!r})")
            value = state[key]
            if not isinstance(value, torch.Tensor) or value.shape != tensor.shape:
                got = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise UserError(f"{path}: {key} has shape {got}, the spec needs {list(tensor.shape)}")
            tensor.copy_(value)
            used.add(key)
    for conn in network.connections.values():
        if type(conn) is MulticompartmentConnection:
            conn._fold_cache = None
    return used


# --------------------------------------------------------------------------- the network's own class
#: BindsNET model classes (Network subclasses whose constructor only builds layers and connections)
#: that a spec can name, with the plain attributes their constructor sets besides ``dt``
MODELS: dict[str, tuple[type, tuple[str, ...]]] = {
    "bindsnet.models.DiehlAndCook2015": (DiehlAndCook2015, ("n_inpt", "inpt_shape", "n_neurons", "exc", "inh")),
}
MODEL_SCHEMA = schema.closed_object(
    {"class": schema.one_of(sorted(MODELS)), "attributes": {"type": "object"}}, required=["class"]
)


def describe_model(net: Network) -> Optional[dict[str, Any]]:
    """``{"class", "attributes"}`` of a known BindsNET model class (:data:`MODELS`); None for a
    plain ``Network`` and for other subclasses (they come back as a plain ``Network``)."""
    for name, (cls, attrs) in MODELS.items():
        if type(net) is cls:
            values = {a: getattr(net, a, None) for a in attrs}
            values["inpt_shape"] = list(values["inpt_shape"]) if values.get("inpt_shape") is not None else None
            return {"class": name, "attributes": values}
    return None


def new_network(model: Optional[dict[str, Any]], dt: float) -> Network:
    """An empty network of the class a spec names (``model``, see :func:`describe_model`), with
    its attributes; layers and connections are added by the caller as for a plain ``Network``."""
    if model is None:
        return Network(dt=dt)
    cls, attrs = MODELS[model["class"]]
    net = cls.__new__(cls)
    Network.__init__(net, dt=dt)  # what the model's constructor does before adding its parts
    for key in attrs:
        setattr(net, key, model.get("attributes", {}).get(key))
    return net

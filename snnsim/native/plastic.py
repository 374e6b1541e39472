"""Native step loop of a plastic Diehl & Cook network (``csrc/plastic.c``), batch size 1.

:func:`kernel_for` recognises BindsNET's ``DiehlAndCook2015`` shape: layers ``Input`` ->
``DiehlAndCookNodes``/``AdaptiveLIFNodes`` (E) -> ``LIFNodes`` (I), in that order; connections
X->E (learning with ``PostPre``, fused batch path, float32), E->I and I->E (no learning), each a
dense ``Connection`` without bias or a ``MulticompartmentConnection`` of one ``Weight``. Then the
whole run goes in C on the layers' own state tensors, with the same float32 operations in the same
order as ``Network.run`` (bit-identical weights, thresholds and spikes); at each step in which E
spikes with ``one_spike`` the loop returns to Python for BindsNET's ``torch.multinomial`` draw, so
torch's generator is consumed exactly as in ``Network.run``. Anything else (batch > 1, other rules,
potentials to record, ``SNNSIM_NATIVE=0`` or ``SNNSIM_NATIVE_PLASTIC=0``, no compiler): None, and
the torch loop of :mod:`snnsim.engine.plastic` runs.
"""

from __future__ import annotations

import ctypes
from typing import Any, Optional

import torch
from bindsnet.network.nodes import AdaptiveLIFNodes, DiehlAndCookNodes, Input, LIFNodes

from snnsim.native.build import build_library, c_source, library_status, load_once, native_off

_native: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet"}
_P, _I64, _I32, _F = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_float


class _Ctx(ctypes.Structure):
    _fields_ = (
        [(n, _I64) for n in ("T", "nx", "ne", "ni")]
        + [
            (n, _P)
            for n in (
                "xin",
                "w_xe",
                "w_ei",
                "w_ie",
                "s_x",
                "s_e",
                "s_i",
                "x_x",
                "x_e",
                "x_i",
                "v_e",
                "r_e",
                "theta",
                "v_i",
                "r_i",
                "out_e",
                "out_i",
                "cur_e",
                "cur_i",
                "tmp",
            )
        ]
        + [
            ("x_decay", _F),
            ("x_scale", _F),
            ("x_additive", _I32),
            *[
                (n, _F)
                for n in (
                    "e_rest",
                    "e_decay",
                    "e_thresh",
                    "e_reset",
                    "e_refrac",
                    "e_dt",
                    "th_decay",
                    "th_plus",
                    "e_tdecay",
                    "e_tscale",
                )
            ],
            ("e_additive", _I32),
            ("learning", _I32),
            ("one_spike", _I32),
            *[
                (n, _F)
                for n in ("i_rest", "i_decay", "i_thresh", "i_reset", "i_refrac", "i_dt", "i_tdecay", "i_tscale")
            ],
            ("i_traces", _I32),
            ("i_additive", _I32),
            *[(n, _F) for n in ("nu0", "nu1", "w_decay", "wmin", "wmax")],
            ("use_nu0", _I32),
            ("use_nu1", _I32),
            ("clamp", _I32),
            ("first", _I32),
            ("chosen", _I64),
        ]
    )


def _compile() -> ctypes.CDLL:
    dll = build_library(c_source("plastic.c"), "plastic")
    dll.dc_run.argtypes = [ctypes.POINTER(_Ctx), _I64, _I32]
    dll.dc_run.restype = _I64
    dll.plastic_event_sum.argtypes = [_P, _I64, _I64, _P, _I64, _P]
    dll.plastic_event_sum.restype = None
    return dll


def event_current(s: torch.Tensor, w: torch.Tensor) -> Optional[torch.Tensor]:
    """Bool spikes ``s`` ``[B, K]`` x float32 weights ``[K, M]`` -> ``[B, M]``: per row the sum of the
    rows of ``w`` of the active inputs, ascending from 0 (one C call; MKL's order for B = 1);
    None when the kernels are off or do not apply (callers fall back)."""
    if (
        s.dtype != torch.bool
        or w.dtype != torch.float32
        or s.device.type != "cpu"
        or w.device.type != "cpu"
        or s.dim() != 2
        or w.dim() != 2
        or s.shape[1] != w.shape[0]
        or native_off("SNNSIM_NATIVE_PLASTIC") is not None
        or load_once(_native, _compile) is None
    ):
        return None
    s, w = s.contiguous(), w.contiguous()
    out = torch.empty(s.shape[0], w.shape[1])
    _native["lib"].plastic_event_sum(s.data_ptr(), s.shape[0], s.shape[1], w.data_ptr(), w.shape[1], out.data_ptr())
    return out


def native_status() -> str:
    """``"loaded"`` when the C step loop can be used, else why not."""
    return library_status(_native, _compile, native_off("SNNSIM_NATIVE_PLASTIC"))


def _weight(conn: Any) -> Optional[torch.Tensor]:
    """The dense float32 weight of a bias-free ``Connection`` / one-``Weight`` multicompartment one."""
    if type(conn).__name__ == "Connection":
        w = conn.w if conn.b is None else None
    else:
        feats = list(getattr(conn, "pipeline", ()))
        ok = (
            len(feats) == 1
            and type(feats[0]).__name__ == "Weight"
            and not feats[0].sparse
            and not feats[0].enforce_polarity
        )
        w = feats[0].value if ok else None
    if w is None or w.dtype != torch.float32 or w.is_sparse or not w.is_contiguous() or w.device.type != "cpu":
        return None
    return w.data


def _f(x: Any) -> float:
    return float(x)


def _scalar(*xs: Any) -> bool:
    return all(not isinstance(x, torch.Tensor) or x.numel() == 1 for x in xs)


def _shape_ok(network: Any, plastic: list, inputs: dict) -> Optional[tuple]:
    """(X, E, I names, X->E Plastic) when the network has the kernel's shape, else None."""
    names = list(network.layers)
    if len(names) != 3 or len(plastic) != 1 or list(inputs) != names[:1]:
        return None
    x, e, i = (network.layers[n] for n in names)
    if type(x) is not Input or type(e) not in (DiehlAndCookNodes, AdaptiveLIFNodes) or type(i) is not LIFNodes:
        return None
    p = plastic[0]
    keys = list(network.connections)
    if keys != [(names[0], names[1]), (names[1], names[2]), (names[2], names[1])] or p.key != keys[0]:
        return None
    if p.kind not in ("postpre", "mcc_postpre") or not p.fused or not p.scalar_bounds:
        return None
    if e.lbound is not None or i.lbound is not None or not (x.traces and e.traces):
        return None
    if any(getattr(n, "sum_input", False) for n in (x, e, i)):  # the kernel keeps no running input sums
        return None
    if not _scalar(
        e.rest,
        e.decay,
        e.thresh,
        e.reset,
        e.refrac,
        e.theta_decay,
        e.theta_plus,
        i.rest,
        i.decay,
        i.thresh,
        i.reset,
        i.refrac,
        x.trace_decay,
        x.trace_scale,
        e.trace_decay,
        e.trace_scale,
    ):
        return None
    return names, p


def kernel_for(
    network: Any, plastic: list, inputs: dict, want_v: bool = False, learn: bool = True
) -> Optional[DiehlCookKernel]:
    """A :class:`DiehlCookKernel` for this run (``learn=False``: no rule applied), or None (the torch loop)."""
    if want_v or native_off("SNNSIM_NATIVE_PLASTIC") is not None:
        return None
    found = _shape_ok(network, plastic, inputs)
    if found is None:
        return None
    names, p = found
    xin = inputs[names[0]]
    if xin.dtype != torch.bool or xin.shape[1] != 1 or xin.device.type != "cpu":
        return None
    ws = [_weight(network.connections[k]) for k in network.connections]
    if any(w is None for w in ws) or load_once(_native, _compile) is None:
        return None
    return DiehlCookKernel(network, names, p, xin, ws, learn)


class DiehlCookKernel:
    """One plastic run of a Diehl & Cook network in C, on the layers' own state tensors."""

    def __init__(
        self, network: Any, names: list[str], p: Any, xin: torch.Tensor, ws: list[torch.Tensor], learn: bool = True
    ) -> None:
        self.net, self.names, self.p, self.ws, self.learn = network, names, p, ws, learn
        self.xin = xin.reshape(xin.shape[0], -1).contiguous()

    def _ctx(self, out_e: torch.Tensor, out_i: torch.Tensor) -> _Ctx:
        x, e, i = (self.net.layers[n] for n in self.names)
        p = self.p
        t, nx = self.xin.shape
        x.s = torch.zeros(1, x.n, dtype=torch.bool)
        keep = [self.xin, x.s, e.s, i.s, x.x, e.x, e.v, e.refrac_count, e.theta, i.v, i.refrac_count]
        if any(not k.is_contiguous() for k in keep):
            raise RuntimeError("plastic kernel: a state tensor is not contiguous")
        self.work = [torch.zeros(e.n), torch.zeros(i.n), torch.zeros(e.n)]
        c = _Ctx(T=t, nx=nx, ne=e.n, ni=i.n)
        for name, ten in [
            ("xin", self.xin),
            ("w_xe", self.ws[0]),
            ("w_ei", self.ws[1]),
            ("w_ie", self.ws[2]),
            ("s_x", x.s),
            ("s_e", e.s),
            ("s_i", i.s),
            ("x_x", x.x),
            ("x_e", e.x),
            ("v_e", e.v),
            ("r_e", e.refrac_count),
            ("theta", e.theta),
            ("v_i", i.v),
            ("r_i", i.refrac_count),
            ("out_e", out_e),
            ("out_i", out_i),
            ("cur_e", self.work[0]),
            ("cur_i", self.work[1]),
            ("tmp", self.work[2]),
        ]:
            setattr(c, name, ten.data_ptr())
        c.x_i = i.x.data_ptr() if i.traces else None
        c.x_decay, c.x_scale, c.x_additive = _f(x.trace_decay), _f(x.trace_scale), int(bool(x.traces_additive))
        c.e_rest, c.e_decay, c.e_thresh, c.e_reset = _f(e.rest), _f(e.decay), _f(e.thresh), _f(e.reset)
        c.e_refrac, c.e_dt, c.th_decay, c.th_plus = _f(e.refrac), _f(e.dt), _f(e.theta_decay), _f(e.theta_plus)
        c.e_tdecay, c.e_tscale, c.e_additive = _f(e.trace_decay), _f(e.trace_scale), int(bool(e.traces_additive))
        c.learning = int(bool(e.learning))
        c.one_spike = int(bool(getattr(e, "one_spike", False)))
        c.i_rest, c.i_decay, c.i_thresh, c.i_reset = _f(i.rest), _f(i.decay), _f(i.thresh), _f(i.reset)
        c.i_refrac, c.i_dt, c.i_traces = _f(i.refrac), _f(i.dt), int(bool(i.traces))
        if i.traces:
            c.i_tdecay, c.i_tscale, c.i_additive = _f(i.trace_decay), _f(i.trace_scale), int(bool(i.traces_additive))
        c.nu0, c.nu1 = _f(p.nu[0]), _f(p.nu[1])
        c.use_nu0, c.use_nu1 = int(self.learn and bool(p.nu[0])), int(self.learn and bool(p.nu[1]))
        c.w_decay = float(p.decay) if self.learn else 1.0
        c.clamp, c.first = int(self.learn and bool(p.clamp)), 1
        c.wmin = _f(p.wmin) if p.clamp else 0.0
        c.wmax = _f(p.wmax) if p.clamp else 0.0
        return c

    def run(self, spikes: dict[str, torch.Tensor], volts: dict) -> None:
        """Fill ``spikes[E]``/``spikes[I]`` ``[T, 1, n]`` (bool); the layers' state advances in place."""
        _, en, iname = self.names
        e = self.net.layers[en]
        out_e, out_i = spikes[en], spikes[iname]
        ctx = self._ctx(out_e, out_i)
        lib, t, phase = _native["lib"], 0, 0
        while True:
            t = lib.dc_run(ctypes.byref(ctx), t, phase)
            if t >= ctx.T:
                break
            # BindsNET's one-spike choice, the same draw on the same [1, n] tensor
            ctx.chosen = int(torch.multinomial(e.s.float().view(1, -1), 1))
            phase = 1
        self.net.layers[self.names[0]].s = self.xin[-1].view(1, -1).clone()

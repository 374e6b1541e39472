"""BindsNET's learning rules, event-driven, for the fast engine's plastic runs.

A :class:`Plastic` describes one learning connection: its weight matrix ``w`` ``[n_src, n_tgt]``
(the BindsNET tensor itself, updated in place), its rule and the rule's settings. :func:`update`
applies one step of the rule after every layer has stepped, as ``Connection.update`` does in
``Network.run``: the trace rules (``PostPre``, ``WeightDependentPostPre``, ``Hebbian``) touch only
the rows of presynaptic neurons that spiked and the columns of postsynaptic neurons that spiked;
weight decay, then the ``wmin``/``wmax`` clamp follow (the clamp on the touched rows and columns
only: the rest is already in range). The reward rules (``MSTDP``, ``MSTDPET``) keep BindsNET's
state (``p_plus``, ``p_minus``, ``eligibility``, ``eligibility_trace``) on the rule object itself, so
runs can alternate between engines; MSTDP's update touches only the rows/columns of the spikes
behind its eligibility, MSTDPET's decaying eligibility trace is dense.

Arithmetic: for batch size 1 every weight gets the same float32 operations in the same order as
BindsNET's (fused ``addmm_`` outer products whose products are exact, 0/1 spikes), so the weights
are bit-identical; for a batch the fused path sums the batch in another order (float32 rounding).
Supported: ``bindsnet.learning`` ``NoOp``, ``PostPre``, ``WeightDependentPostPre``, ``Hebbian``,
``MSTDP``, ``MSTDPET`` on a dense ``Connection``, and the ``MCC_learning`` ``PostPre``/``NoOp`` of a
``MulticompartmentConnection`` made of one ``Weight`` feature (BindsNET's ``DiehlAndCook2015``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from bindsnet.learning import MCC_learning as M
from bindsnet.learning import learning as L
from bindsnet.network.topology import Connection, MulticompartmentConnection
from bindsnet.network.topology_features import Weight

from snnsim.errors import UserError

#: rule class -> kind, for ``bindsnet.learning`` rules on a ``Connection``
_CONN_RULES = {
    L.NoOp: "noop",
    L.PostPre: "postpre",
    L.WeightDependentPostPre: "wdpp",
    L.Hebbian: "hebbian",
    L.MSTDP: "mstdp",
    L.MSTDPET: "mstdpet",
}
#: rule class -> kind, for ``MCC_learning`` rules on a one-``Weight`` ``MulticompartmentConnection``
_MCC_RULES = {M.NoOp: "noop", M.PostPre: "mcc_postpre"}
#: batch reductions BindsNET applies as a sum over the batch (torch.squeeze: batch size 1)
_SUMS = (torch.squeeze, torch.sum)
_REDUCTIONS = {torch.squeeze: "torch.squeeze", torch.sum: "torch.sum", torch.mean: "torch.mean"}


@dataclass
class Plastic:
    """One learning connection (``src`` -> ``tgt`` layer names) and its rule's settings."""

    key: tuple[str, str]
    kind: str
    rule: Any
    conn: Any
    w: torch.Tensor
    source: Any
    target: Any
    nu: torch.Tensor
    reduction: Callable
    decay: float  # multiplier per step (1.0: none)
    clamp: bool
    wmin: Any
    wmax: Any
    first: bool = field(default=True)  # the first update of a run clamps the whole matrix
    last: Optional[tuple[torch.Tensor, torch.Tensor]] = None  # MSTDP: spikes of its eligibility (see _mstdp)

    @property
    def fused(self) -> bool:
        """BindsNET's fused path: one ``addmm_`` per term, the batch summed (torch.squeeze/sum)."""
        return self.reduction in _SUMS

    @property
    def needs_reward(self) -> bool:
        return self.kind in ("mstdp", "mstdpet")

    @property
    def scalar_bounds(self) -> bool:
        return all(not isinstance(b, torch.Tensor) or b.numel() == 1 for b in (self.wmin, self.wmax))


def _name(key: tuple[str, str]) -> str:
    return f"{key[0]}->{key[1]}"


def _rule_name(rule: Any) -> str:
    return f"{type(rule).__module__.rsplit('.', 1)[-1]}.{type(rule).__name__}"


def _check_reduction(key: tuple[str, str], reduction: Callable) -> None:
    if reduction not in _REDUCTIONS:
        raise UserError(
            f"connection {_name(key)}: the fast engine supports the reductions "
            f"{', '.join(_REDUCTIONS.values())}, not {getattr(reduction, '__name__', reduction)!r}"
        )


def _check_nu(key: tuple[str, str], nu: torch.Tensor) -> torch.Tensor:
    if nu.dim() != 1 or nu.numel() != 2:
        raise UserError(
            f"connection {_name(key)}: per-synapse learning rates (a tensor nu) are not supported by "
            "the fast engine; use two numbers"
        )
    return nu


def _check_w(key: tuple[str, str], w: torch.Tensor) -> None:
    if w.is_sparse or w.dtype != torch.float32 or w.dim() != 2:
        raise UserError(
            f"connection {_name(key)}: learning in the fast engine needs a dense float32 weight "
            f"matrix, got {'sparse ' if w.is_sparse else ''}{w.dtype} {list(w.shape)}"
        )


def from_connection(key: tuple[str, str], conn: Connection) -> Plastic:
    """The :class:`Plastic` of a stock ``Connection`` whose rule the fast engine applies."""
    rule = conn.update_rule
    kind = _CONN_RULES.get(type(rule))
    if kind is None:
        raise UserError(
            f"connection {_name(key)}: the fast engine does not implement the learning rule "
            f"{type(rule).__name__}; use engine='bindsnet'"
        )
    _check_w(key, conn.w)
    _check_reduction(key, rule.reduction)
    bounded = bool((conn.wmin != -math.inf).any() or (conn.wmax != math.inf).any())
    return Plastic(
        key,
        kind,
        rule,
        conn,
        conn.w.data,
        conn.source,
        conn.target,
        _check_nu(key, rule.nu),
        rule.reduction,
        float(rule.weight_decay),
        bounded and kind != "noop",
        conn.wmin.data,
        conn.wmax.data,
    )


def from_multicompartment(key: tuple[str, str], conn: MulticompartmentConnection) -> Optional[Plastic]:
    """The :class:`Plastic` of a ``MulticompartmentConnection`` of one dense ``Weight`` feature
    (None: its rule is a ``NoOp``, nothing changes while learning)."""
    feats = list(conn.pipeline)
    rules = [getattr(f, "learning_rule", None) for f in feats]
    if all(r is None or type(r) is M.NoOp for r in rules):
        for f in feats:
            if getattr(f, "norm", None) is not None and getattr(f, "norm_frequency", "sample") == "time step":
                raise UserError(
                    f"connection {_name(key)}: a feature normalised every time step is not supported "
                    "by the fast engine; use engine='bindsnet'"
                )
        return None
    if len(feats) != 1 or type(feats[0]) is not Weight:
        names = ", ".join(type(f).__name__ for f in feats)
        raise UserError(
            f"connection {_name(key)}: learning on a MulticompartmentConnection of [{names}] is not "
            "supported by the fast engine (one Weight feature only); use engine='bindsnet'"
        )
    feat, rule = feats[0], rules[0]
    kind = _MCC_RULES.get(type(rule))
    if kind is None:
        raise UserError(
            f"connection {_name(key)}: the fast engine does not implement the learning rule "
            f"{_rule_name(rule)}; use engine='bindsnet'"
        )
    if feat.sparse or feat.enforce_polarity or getattr(rule, "average_update", 0):
        raise UserError(
            f"connection {_name(key)}: a sparse, polarity-enforcing or averaged Weight feature is not "
            "supported by the fast engine; use engine='bindsnet'"
        )
    if feat.norm is not None and feat.norm_frequency != "sample":
        raise UserError(
            f"connection {_name(key)}: norm_frequency={feat.norm_frequency!r} is not supported by the "
            "fast engine (only 'sample'); use engine='bindsnet'"
        )
    w = feat.value.data
    _check_w(key, w)
    _check_reduction(key, rule.reduction)
    return Plastic(
        key,
        kind,
        rule,
        conn,
        w,
        conn.source,
        conn.target,
        _check_nu(key, rule.nu),
        rule.reduction,
        float(rule.decay),
        rule.min is not None or rule.max is not None,
        rule.min,
        rule.max,
    )


# ---------------------------------------------------------------------------------------- updates


def _active(s: torch.Tensor, batch: int) -> torch.Tensor:
    """Indices of the neurons that spiked in any sample: ``s`` ``[B, *shape]`` -> ``[k]`` int64."""
    flat = s.reshape(batch, -1)
    return (flat[0] if batch == 1 else flat.any(0)).nonzero().flatten()


def _pre_outer(p: Plastic, rows: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``reduction(s_pre ⊗ factor)`` on the ``rows`` that spiked: ``factor`` ``[B, n_tgt]`` -> ``[k, n_tgt]``."""
    b = factor.shape[0]
    s = p.source.s.reshape(b, -1)[:, rows].float()
    if p.fused:
        return factor.expand(rows.numel(), -1) if b == 1 else s.t() @ factor
    return p.reduction(s.unsqueeze(2) * factor.unsqueeze(1), dim=0)


def _post_outer(p: Plastic, cols: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``reduction(factor ⊗ s_post)`` on the ``cols`` that spiked: ``factor`` ``[B, n_src]`` -> ``[n_src, k]``."""
    b = factor.shape[0]
    s = p.target.s.reshape(b, -1)[:, cols].float()
    if p.fused:
        return factor.t().expand(-1, cols.numel()) if b == 1 else factor.t() @ s
    return p.reduction(factor.unsqueeze(2) * s.unsqueeze(1), dim=0)


def _postpre(p: Plastic, b: int, sign_pre: float) -> tuple[torch.Tensor, torch.Tensor]:
    """PostPre (``sign_pre`` -1) and Hebbian (+1): pre spikes x post traces, post spikes x pre traces."""
    rows = cols = _EMPTY
    nu0, nu1 = p.nu[0], p.nu[1]
    fused_nu = p.fused or p.kind != "hebbian"  # unfused Hebbian scales the reduced outer product
    if bool(nu0):
        rows = _active(p.source.s, b)
        if rows.numel():
            tx = p.target.x.reshape(b, -1)
            upd = _pre_outer(p, rows, tx * nu0 if fused_nu else tx)
            upd = upd if fused_nu else nu0 * upd
            p.w[rows] = p.w[rows] - upd if sign_pre < 0 else p.w[rows] + upd
    if bool(nu1):
        cols = _active(p.target.s, b)
        if cols.numel():
            sx = p.source.x.reshape(b, -1)
            if fused_nu:
                upd = _post_outer(p, cols, sx) * nu1 if b == 1 and p.fused else _post_outer_scaled(p, cols, sx, nu1)
            else:
                upd = nu1 * _post_outer(p, cols, sx)
            p.w[:, cols] = p.w[:, cols] + upd
    return rows, cols


def _post_outer_scaled(p: Plastic, cols: torch.Tensor, sx: torch.Tensor, nu1: torch.Tensor) -> torch.Tensor:
    """BindsNET's post term with ``nu`` on the post spikes first: ``reduction(sx ⊗ (s_post * nu1))``."""
    b = sx.shape[0]
    s = p.target.s.reshape(b, -1)[:, cols].float() * nu1
    if p.fused:
        return sx.t() @ s
    return p.reduction(sx.unsqueeze(2) * s.unsqueeze(1), dim=0)


def _sub(x: Any, rows: Optional[torch.Tensor], cols: Optional[torch.Tensor]) -> Any:
    """``x[rows][:, cols]`` for a weight-shaped tensor; scalars and 0-d tensors as they are."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        return x
    x = x if rows is None else x[rows]
    return x if cols is None else x[:, cols]


def _wdpp_block(p: Plastic, b: int, rows: Optional[torch.Tensor], cols: Optional[torch.Tensor]) -> torch.Tensor:
    """WeightDependentPostPre's update of the block ``w[rows][:, cols]`` (None: all)."""
    ss = p.source.s.reshape(b, -1).float()
    sx = p.source.x.reshape(b, -1)
    ts = p.target.s.reshape(b, -1).float()
    tx = p.target.x.reshape(b, -1)
    if rows is not None:
        ss, sx = ss[:, rows], sx[:, rows]
    if cols is not None:
        ts, tx = ts[:, cols], tx[:, cols]
    w = _sub(p.w, rows, cols)
    upd: Any = 0
    if bool(p.nu[0]):
        upd = upd - p.nu[0] * p.reduction(ss.unsqueeze(2) * tx.unsqueeze(1), dim=0) * (w - _sub(p.wmin, rows, cols))
    if bool(p.nu[1]):
        upd = upd + p.nu[1] * p.reduction(sx.unsqueeze(2) * ts.unsqueeze(1), dim=0) * (_sub(p.wmax, rows, cols) - w)
    return w + upd


def _wdpp(p: Plastic, b: int) -> tuple[torch.Tensor, torch.Tensor]:
    """WeightDependentPostPre: every weight in a spiking row or column, from the weights before the step."""
    rows, cols = _active(p.source.s, b), _active(p.target.s, b)
    if not bool(p.nu[0]):
        rows = _EMPTY
    if not bool(p.nu[1]):
        cols = _EMPTY
    other = None
    if cols.numel():
        keep = torch.ones(p.w.shape[0], dtype=torch.bool)
        keep[rows] = False
        other = keep.nonzero().flatten()
        col_block = _wdpp_block(p, b, other, cols)
    if rows.numel():
        p.w[rows] = _wdpp_block(p, b, rows, None)
    if other is not None and other.numel():
        p.w[other.unsqueeze(1), cols.unsqueeze(0)] = col_block
    return rows, cols


def _reward_traces(p: Plastic, b: int, dense: bool) -> None:
    """MSTDP/MSTDPET: decay and bump P+/P-; the point eligibility of this step's spikes is
    ``P+ ⊗ s_post + s_pre ⊗ P-``: stored dense on the rule (``dense``), else kept as the spikes
    in ``p.last`` (nonzero only in their rows and columns; :func:`finish` stores it dense)."""
    r, ss, ts = p.rule, p.source.s.reshape(b, -1).float(), p.target.s.reshape(b, -1).float()
    dt = float(p.conn.dt)
    r.p_plus *= torch.exp(-dt / r.tc_plus)
    r.p_plus += _ONE * ss
    r.p_minus *= torch.exp(-dt / r.tc_minus)
    r.p_minus += _MINUS_ONE * ts
    p.last = (ss, ts)
    if dense:
        r.eligibility = _eligibility(p, None, None)


def _eligibility(p: Plastic, rows: Optional[torch.Tensor], cols: Optional[torch.Tensor]) -> torch.Tensor:
    """The block ``[B, rows, cols]`` (None: all) of the point eligibility of the spikes ``p.last``."""
    ss, ts = p.last  # type: ignore[misc]
    pp, pm = p.rule.p_plus, p.rule.p_minus
    if rows is not None:
        ss, pp = ss[:, rows], pp[:, rows]
    if cols is not None:
        ts, pm = ts[:, cols], pm[:, cols]
    return pp.unsqueeze(2) * ts.unsqueeze(1) + ss.unsqueeze(2) * pm.unsqueeze(1)


def _reward_state(p: Plastic, b: int) -> None:
    """Create the reward rules' state as BindsNET does on their first update (zeros)."""
    r, shape = p.rule, (b, *p.w.shape)
    if not hasattr(r, "p_plus"):
        r.p_plus = torch.zeros(b, p.source.n)
    if not hasattr(r, "p_minus"):
        r.p_minus = torch.zeros(b, p.target.n)
    if not hasattr(r, "eligibility"):
        r.eligibility = torch.zeros(shape)
    if p.kind == "mstdpet" and not hasattr(r, "eligibility_trace"):
        r.eligibility_trace = torch.zeros(shape)


def _mstdp(p: Plastic, b: int, reward: Any) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """MSTDP's ``w += nu0 * reduction(reward * eligibility)``: on the rows of the presynaptic and
    the columns of the postsynaptic spikes of the eligibility (zero elsewhere), or dense for the
    eligibility a previous run left on the rule."""
    if p.last is None:
        p.w += p.nu[0] * p.reduction(reward * p.rule.eligibility, dim=0)
        return None, None
    rows, cols = _active(p.last[0], b), _active(p.last[1], b)
    other = None
    if cols.numel():
        keep = torch.ones(p.w.shape[0], dtype=torch.bool)
        keep[rows] = False
        other = keep.nonzero().flatten()
    if rows.numel():
        p.w[rows] = p.w[rows] + p.nu[0] * p.reduction(reward * _eligibility(p, rows, None), dim=0)
    if other is not None and other.numel():
        idx = (other.unsqueeze(1), cols.unsqueeze(0))
        p.w[idx] = p.w[idx] + p.nu[0] * p.reduction(reward * _eligibility(p, other, cols), dim=0)
    return rows, cols


def _reward_rule(p: Plastic, b: int, reward: Any) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """MSTDP (Florian 2007, eq. 3.9) and MSTDPET (eqs. 2.7-2.8), BindsNET's timing (``zero_lag``).
    MSTDPET's eligibility trace decays everywhere at every step: it stays dense."""
    _reward_state(p, b)
    r = p.rule
    dense = p.kind == "mstdpet" or (isinstance(reward, torch.Tensor) and reward.numel() != 1)
    rows: Optional[torch.Tensor] = None
    cols: Optional[torch.Tensor] = None
    if r.zero_lag:
        _reward_traces(p, b, dense)
    if p.kind == "mstdp" and not dense:
        rows, cols = _mstdp(p, b, reward)
    elif p.kind == "mstdp":
        p.w += p.nu[0] * p.reduction(reward * r.eligibility, dim=0)
    else:
        r.eligibility_trace *= torch.exp(-float(p.conn.dt) / r.tc_e_trace)
        r.eligibility_trace += r.eligibility / r.tc_e_trace
        p.w += p.reduction(p.nu[0] * p.conn.dt * reward * r.eligibility_trace, dim=0)
    if not r.zero_lag:
        _reward_traces(p, b, dense)
    return rows, cols


def finish(p: Plastic) -> None:
    """After a run: store MSTDP's last point eligibility on the rule, dense, as BindsNET leaves it."""
    if p.kind == "mstdp" and p.last is not None:
        p.rule.eligibility = _eligibility(p, None, None)
    p.last = None


def _bound(p: Plastic, rows: Optional[torch.Tensor], cols: Optional[torch.Tensor]) -> None:
    """Weight decay (whole matrix), then the clamp: whole matrix at the first step of a run, with decay,
    or with per-synapse bounds; otherwise only the touched rows/columns (the rest is in range)."""
    if p.decay != 1.0:
        p.w *= p.decay
    if not p.clamp:
        return
    if p.first or p.decay != 1.0 or rows is None or not p.scalar_bounds:
        p.w.clamp_(p.wmin, p.wmax)
        p.first = False
        return
    if rows.numel():
        p.w[rows] = p.w[rows].clamp(p.wmin, p.wmax)
    if cols is not None and cols.numel():
        p.w[:, cols] = p.w[:, cols].clamp(p.wmin, p.wmax)


def update(p: Plastic, batch: int, reward: Any = None) -> None:
    """One step of ``p``'s rule (after every layer has stepped), as ``Network.run`` applies it."""
    rows: Optional[torch.Tensor] = _EMPTY
    cols: Optional[torch.Tensor] = _EMPTY
    if p.kind in ("postpre", "mcc_postpre"):
        rows, cols = _postpre(p, batch, -1.0)
    elif p.kind == "hebbian":
        rows, cols = _postpre(p, batch, 1.0)
    elif p.kind == "wdpp":
        rows, cols = _wdpp(p, batch)
    elif p.kind in ("mstdp", "mstdpet"):
        rows, cols = _reward_rule(p, batch, reward)
    _bound(p, rows, cols)


_EMPTY = torch.zeros(0, dtype=torch.int64)
_ONE, _MINUS_ONE = torch.tensor(1.0), torch.tensor(-1.0)

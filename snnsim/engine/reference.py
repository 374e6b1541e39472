"""Engine ``bindsnet``: BindsNET's own ``Network.run`` with monitors.

Runs with ``one_step=True`` (a spike reaches downstream layers in the same step), the
convention shared with the fast engine. BindsNET creates its input accumulators (and
snnsim nodes their potentials) in torch's default dtype, so a network whose weights are
float64 runs with float64 as the default dtype (restored afterwards).
"""

from __future__ import annotations

import contextlib
from typing import Iterable, Iterator, Optional

import torch
from bindsnet.network import Network
from bindsnet.network.monitors import Monitor
from bindsnet.network.nodes import Input

from snnsim.core.connections import weight_dtype
from snnsim.engine.record import Record, layer_kinds

_PREFIX = "__snnsim_record_"


def run_bindsnet(
    network: Network,
    inputs: dict[str, torch.Tensor],
    record_voltage: Iterable[str] = (),
    reward=None,
) -> Record:
    """Simulate ``network`` step by step with ``Network.run``; inputs ``[T, B, *shape]``;
    ``reward``: passed to ``Network.run`` (MSTDP/MSTDPET) when given."""
    want_v = set(record_voltage)
    t = next(iter(inputs.values())).shape[0]
    device = next(iter(inputs.values())).device
    names = []
    for name, layer in network.layers.items():
        state_vars = ["s", "v"] if name in want_v else ["s"]
        network.add_monitor(Monitor(layer, state_vars=state_vars, time=t, device=device), _PREFIX + name)
        names.append(name)
    try:
        network.reset_state_variables()
        # BindsNET runs int(time / dt) steps: half a step of slack survives float rounding
        with _default_dtype(weight_dtype(list(network.connections.values()))):
            extra = {} if reward is None else {"reward": reward}
            network.run(inputs=dict(inputs), time=(t + 0.5) * network.dt, one_step=True, **extra)
        # input layers keep the dtype they were given (bool spikes or float currents)
        spikes = {
            n: _as_recorded(network.monitors[_PREFIX + n].get("s"), isinstance(network.layers[n], Input)) for n in names
        }
        volts = {n: network.monitors[_PREFIX + n].get("v") for n in names if n in want_v}
    finally:
        for n in names:
            network.monitors.pop(_PREFIX + n, None)
        # BindsNET's Input keeps a view of the last input step as its ``s``; detach it
        # before the reset, which would otherwise zero the caller's tensor in place.
        for layer in network.layers.values():
            layer.s = torch.zeros_like(layer.s)
        network.reset_state_variables()
    return Record(spikes, volts, float(network.dt), layer_kinds(network))


@contextlib.contextmanager
def _default_dtype(dtype: Optional[torch.dtype]) -> Iterator[None]:
    """Make ``dtype`` (a floating dtype, or None: unchanged) torch's default dtype for the block."""
    before = torch.get_default_dtype()
    if dtype is None or dtype == before:
        yield
        return
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _as_recorded(s: torch.Tensor, is_input: bool) -> torch.Tensor:
    return s if is_input else s.bool()

"""The Triton kernels of the multi-step IF/LIF (snnsim.native.lif_gpu) run under Triton's CPU
interpreter: forward bit-identical to the torch step loop, backward equal to the torch BPTT to
float32 rounding, for every reset, surrogate and detach setting and with either incoming
gradient missing. (tests/engine/test_cuda.py checks the compiled kernels on a GPU.)"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("triton")

SCRIPT = textwrap.dedent("""
    import json, os, sys
    import torch
    from snnsim.core.autograd import multistep_neuron
    from snnsim.core.dynamics import NeuronParams, neuron_multistep
    from snnsim.core.surrogate import ArcTan, FastSigmoid, Rectangular
    from snnsim.native import lif as lif_native, lif_gpu

    PARAMS = [NeuronParams(reset="zero"), NeuronParams(leak=0.9, reset="zero", v_reset=-0.2),
              NeuronParams(leak=0.25, thresh=0.4, reset="zero"), NeuronParams(reset="subtract"),
              NeuronParams(leak=0.9, reset="subtract", thresh=0.7), NeuronParams(leak=0.8, reset="none"),
              NeuronParams(leak=0.9, reset="none", spiking=False)]
    SURS = [Rectangular(0.3), FastSigmoid(10.0), ArcTan(2.0)]
    torch.manual_seed(0)
    cur = torch.rand(12, 2, 3, 50) * 0.8 - 0.1
    cur[0, 0, 0, :4] = torch.tensor([1.0, 0.4, 0.7, 0.0])  # threshold-exact first steps
    w_s, w_v = torch.randn_like(cur), torch.randn_like(cur)
    out = []
    for p in PARAMS:
        s_ref, v_ref, _ = neuron_multistep(cur, p, record_voltage=True)
        x = cur.reshape(12, -1)
        pre, volts, sf, s8 = (torch.empty_like(x), torch.empty_like(x), torch.empty_like(x),
                              torch.empty(x.shape, dtype=torch.uint8))
        lif_gpu.forward(x, float(p.leak), float(p.thresh), float(p.v_reset), lif_native._RESETS[p.reset],
                        bool(p.spiking), pre, volts, sf, s8)
        fwd_ok = (torch.equal(s8.bool().view_as(cur), s_ref) and torch.equal(sf.bool().view_as(cur), s_ref)
                  and torch.equal(volts.view_as(cur), v_ref))
        for sur in SURS:
            for detach in (False, True):
                for ws, wv in ((w_s, w_v), (w_s, None), (None, w_v)):
                    os.environ["SNNSIM_NATIVE"] = "0"  # the torch path: the reference
                    xr = cur.clone().requires_grad_()
                    s, v = multistep_neuron(xr, p, sur, detach)
                    loss = (s * ws).sum() if ws is not None else 0
                    loss = loss + ((v * wv).sum() if wv is not None else 0)
                    (g_ref,) = torch.autograd.grad(loss, xr)
                    _, _, pre_t = neuron_multistep(cur, p, record_voltage=True)
                    g = torch.empty_like(x)
                    kind, p1, p2 = sur.kernel()
                    lif_gpu.backward(pre, ws.reshape(12, -1) if ws is not None and p.spiking else None,
                                     wv.reshape(12, -1) if wv is not None else None, g, float(p.leak),
                                     float(p.thresh), float(p.v_reset), lif_native._RESETS[p.reset],
                                     bool(p.spiking), detach, kind, p1, p2)
                    err = float((g.view_as(cur) - g_ref).abs().max() / g_ref.abs().max().clamp_min(1e-12))
                    out.append({"p": repr(p), "sur": repr(sur), "detach": detach, "gs": ws is not None,
                                "gv": wv is not None, "fwd": fwd_ok, "rel_err": err,
                                "spikes": int(s_ref.sum()), "nonzero": bool((g != 0).any())})
    print(json.dumps(out))
""")


def test_triton_kernels_match_the_torch_path_under_the_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(rows) == 7 * 3 * 2 * 3
    silent = lambda r: "spiking=False" in r["p"] and not r["gv"]  # noqa: E731 - no spikes: zero gradient
    bad = [r for r in rows if not r["fwd"] or r["rel_err"] > 1e-5 or r["nonzero"] == silent(r)]
    assert not bad, bad[:5]
    spiking = [r for r in rows if "spiking=False" not in r["p"]]
    assert all(0 < r["spikes"] < 12 * 300 for r in spiking)


LEE_SCRIPT = textwrap.dedent("""
    import json, math, os
    import torch
    from snnsim.core.autograd import multistep_neuron
    from snnsim.core.dynamics import NeuronParams
    from snnsim.core.surrogate import LeePseudo, lee_pseudo_derivative
    from snnsim.native import lif as lif_native, lif_gpu

    torch.manual_seed(1)
    cur = torch.rand(40, 3, 300) * 0.25
    cur[:, :, :20] = 0.0  # silent neurons: pseudo-derivative 0
    w = torch.randn_like(cur)
    out = []
    for p in (NeuronParams(leak=0.99, reset="zero"), NeuronParams(leak=0.9, thresh=0.7, reset="subtract"),
              NeuronParams(leak=1.0, thresh=0.75)):
        os.environ["SNNSIM_NATIVE"] = "0"  # the torch path: the reference
        xr = cur.clone().requires_grad_()
        s_ref, v_ref = multistep_neuron(xr, p, LeePseudo(), True)
        (g_ref,) = torch.autograd.grad((s_ref * w).sum() + (v_ref * w).sum(), xr)
        x = cur.reshape(40, -1)
        volts, sf, pseudo = torch.empty_like(x), torch.empty_like(x), torch.empty(x.shape[1])
        steps = torch.arange(1, 41, dtype=torch.float64)
        lif_gpu.forward_lee(x, p.leak, p.thresh, p.v_reset, lif_native._RESETS[p.reset], volts, sf, pseudo,
                            p.leak ** (40 - steps), 1.0 / p.thresh, math.log(p.leak))
        g = torch.empty_like(x)
        lif_gpu.backward_lee(w.reshape(40, -1).contiguous(), pseudo, g)
        ref = lee_pseudo_derivative(s_ref.detach(), p.leak, p.thresh).reshape(-1)
        out.append({"p": repr(p), "fwd": torch.equal(sf, s_ref.detach().reshape(40, -1))
                    and torch.equal(volts, v_ref.detach().reshape(40, -1)),
                    "pseudo_err": float(((pseudo - ref).abs() / ref.abs().clamp_min(1e-30)).max()),
                    "silent_zero": bool((pseudo.view(3, 300)[:, :20] == 0).all()),
                    "grad_err": float((g.view_as(cur) - g_ref).abs().max() / g_ref.abs().max()),
                    "spikes": int(sf.sum())})
    print(json.dumps(out))
""")


def test_triton_lee_kernels_match_the_torch_path_under_the_interpreter():
    """Lee's pseudo-derivative in the Triton forward pass (float64 sums, kept per neuron) and the
    backward dL/ds * pseudo equal the torch path of MultiStepNeuron."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", LEE_SCRIPT], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(rows) == 3
    bad = [
        r
        for r in rows
        if not r["fwd"]
        or r["pseudo_err"] > 1e-6
        or r["grad_err"] > 1e-6
        or not r["silent_zero"]
        or not 0 < r["spikes"] < 40 * 900
    ]
    assert not bad, bad

"""Brian2 twin of BindsNET's ``DiehlAndCook2015`` (pair-based PostPre STDP), driven by
``benchmarks/stdp.py`` as a separate process (Brian2 2.11 needs Python >= 3.12; it runs in
its own virtualenv, ``.venv-brian2``; this file imports neither torch nor snnsim).

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout.

- ``{"cmd": "build", "n_neurons": N, "time": T, "rest": R, "dt": 1.0, "intensity": 128,
  "images_file": "x.npy", "weights_file": "w.npy", "seed": 0, "threads": 1, "exc": 22.5,
  "inh": 17.5, "theta_plus": 0.05, "norm": 78.4}``: the network (``images_file``: images in
  [0, 1], ``[n_images, 784]``; ``weights_file``: the initial input weights ``[784, N]``, the
  same as BindsNET's, normalised here as BindsNET's ``normalize`` does);
- ``{"cmd": "run", "images": [0, 1, ...], "record": false}``: present these images one after
  the other with learning on; replies the wall time in seconds and, with ``record``, the
  excitatory and inhibitory spike counts and the mean |weight change| per image;
- ``{"cmd": "quit"}``.

The network, BindsNET's defaults (``bindsnet/models/models.py``, ``network/nodes.py``,
``learning/MCC_learning.py``), dt = 1 ms:

- input: ``PoissonGroup`` of 784 with rate ``pixel * intensity`` Hz, corrected to the mean
  rate of BindsNET's ``poisson`` encoder (its inter-spike intervals are Poisson(1000 / r) + 1
  steps, a mean rate of r / (1 + r dt)); 0 Hz during the resting period;
- excitatory (``DiehlAndCookNodes``): rest -65 mV, reset -60 mV, threshold -52 mV + theta,
  tau 100 ms, refractory 5 steps, theta += 0.05 mV per spike, theta decay 1e7 ms;
- inhibitory (``LIFNodes``): rest -60 mV, reset -45 mV, threshold -40 mV, tau 10 ms,
  refractory 2 steps;
- input -> exc all-to-all, weights in [0, 1] (mV of potential per spike), PostPre:
  nearest-spike traces (decay exp(-dt / 20 ms), set to 1 at a spike), at a presynaptic spike
  w -= 1e-4 * post trace, at a postsynaptic spike w += 1e-2 * pre trace, clipped to [0, 1];
  after each image (and before the first) every neuron's 784 input weights are scaled to
  sum to 78.4 (``Weight.normalize``);
- exc -> inh one-to-one, 22.5 mV; inh -> exc all but self, -17.5 mV;
- after each image the potentials go back to rest and the traces to 0; theta stays
  (``Network.reset_state_variables``).

Timing semantics matched to ``Network.run`` (synchronous mode): a spike at step t reaches
its targets at step t + 1, after their decay and before their threshold test; the schedule
is therefore Brian1's order (groups, synapses, thresholds, resets), in which a synapse
delivers the previous step's spikes. BindsNET's refractory counter blocks input for
``refrac`` steps after a spike while the potential keeps decaying: here ``v`` is not frozen
(no ``unless refractory``), synaptic input is multiplied by ``not_refractory``, and
``refractory`` is (refrac + 1) * dt because Brian2 counts the spike's own step.

BindsNET's ``one_spike=True`` (``DiehlAndCookNodes``): every excitatory neuron that crosses
its threshold is reset, made refractory and raises theta (Brian2's "spike" event), but only
one of them, chosen at random, emits the step's spike (to the inhibitory layer, the
postsynaptic trace and STDP). Here a ``network_operation`` after the threshold test picks
that neuron (its ``chosen`` flag) and the custom event "emit" carries the spike
(``"one_spike": false`` in the build request lets every crossing spike, as in Diehl &
Cook's own Brian code). The images of a ``run`` request go through one ``Network.run`` with
a ``network_operation`` switching the input rates and normalising/resetting between images:
each ``run()`` call costs Brian2's runtime mode a fixed ~0.2-0.3 s of code generation
(``run_call_s`` in the build reply), which one call per image would add to every image.

Known differences (the networks are the same, the spike trains cannot be): other random
numbers; when a pre- and a postsynaptic spike fall in the same step BindsNET pairs them in
both directions (traces are set before the update), here only in one; BindsNET clips the
weights once per step, here after each event.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Model:
    def __init__(self, cfg: dict) -> None:
        threads = int(cfg.get("threads", 1))
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        import brian2 as b2
        from brian2 import Hz, NeuronGroup, PoissonGroup, Synapses, ms, mV

        self.b2 = b2
        b2.start_scope()
        b2.prefs.logging.file_log = False
        b2.prefs.logging.std_redirection = False
        target = cfg.get("target")
        if target:
            b2.prefs.codegen.target = target
        b2.seed(int(cfg.get("seed", 0)))
        dt = float(cfg.get("dt", 1.0))
        b2.defaultclock.dt = dt * ms
        self.n = n = int(cfg["n_neurons"])
        self.time, self.rest = int(cfg["time"]), int(cfg.get("rest", 0))
        self.dt = dt
        self.norm = float(cfg.get("norm", 78.4))
        images = np.load(cfg["images_file"]).astype(np.float64)
        r = images * float(cfg.get("intensity", 128.0))
        self.rates = r / (1.0 + r * dt / 1000.0)  # mean rate of BindsNET's poisson encoder
        w0 = np.load(cfg["weights_file"]).astype(np.float64)  # [784, N]
        n_in = w0.shape[0]
        exc, inh, theta_plus = (
            float(cfg.get("exc", 22.5)),
            float(cfg.get("inh", 17.5)),
            float(cfg.get("theta_plus", 0.05)),
        )

        ns = dict(
            v_rest_e=-65.0 * mV,
            v_reset_e=-60.0 * mV,
            v_thresh_e=-52.0 * mV,
            tau_e=100.0 * ms,
            v_rest_i=-60.0 * mV,
            v_reset_i=-45.0 * mV,
            v_thresh_i=-40.0 * mV,
            tau_i=10.0 * ms,
            theta_plus=theta_plus * mV,
            tc_theta=1e7 * ms,
            tc_trace=20.0 * ms,
            nu_pre=1e-4,
            nu_post=1e-2,
            wmax=1.0,
            w_exc=exc * mV,
            w_inh=inh * mV,
        )
        self.inp = PoissonGroup(n_in, rates=np.zeros(n_in) * Hz, name="X")
        # "spike": a threshold crossing (reset, refractory, theta); "emit": the spike the layer
        # sends (to the inhibitory layer and STDP), all crossings or one per step (one_spike)
        self.one_spike = bool(cfg.get("one_spike", True))
        self.rng = np.random.default_rng(int(cfg.get("seed", 0)))
        self.ae = NeuronGroup(
            n,
            """dv/dt = (v_rest_e - v) / tau_e : volt
                  dtheta/dt = -theta / tc_theta : volt
                  chosen : boolean""",
            threshold="v >= v_thresh_e + theta",
            reset="v = v_reset_e; theta += theta_plus",
            events={"emit": "chosen"},
            refractory=(5 + 1) * dt * ms,
            method="exact",
            namespace=ns,
            name="Ae",
        )
        self.ae.run_on_event("emit", "chosen = False")
        self.ai = NeuronGroup(
            n,
            "dv/dt = (v_rest_i - v) / tau_i : volt",
            threshold="v >= v_thresh_i",
            reset="v = v_reset_i",
            refractory=(2 + 1) * dt * ms,
            method="exact",
            namespace=ns,
            name="Ai",
        )
        self.ae.v, self.ai.v = ns["v_rest_e"], ns["v_rest_i"]
        self.xe = Synapses(
            self.inp,
            self.ae,
            """w : 1
               dpre/dt = -pre / tc_trace : 1 (event-driven)
               dpost/dt = -post / tc_trace : 1 (event-driven)""",
            on_pre="""v_post += w * mV * int(not_refractory_post)
                      pre = 1.
                      w = clip(w - nu_pre * post, 0, wmax)""",
            on_post="""post = 1.
                       w = clip(w + nu_post * pre, 0, wmax)""",
            on_event={"pre": "spike", "post": "emit"},
            namespace=ns,
            name="XAe",
        )
        self.xe.connect()
        # synapse k joins i = k // N and j = k % N ([784, N] row-major, BindsNET's layout)
        assert np.array_equal(self.xe.i[:], np.repeat(np.arange(n_in), n))
        self.xe.w = self.normalised(w0).ravel()
        self.ei = Synapses(
            self.ae,
            self.ai,
            on_pre="v_post += w_exc * int(not_refractory_post)",
            on_event="emit",
            namespace=ns,
            name="AeAi",
        )
        self.ei.connect(j="i")
        self.ie = Synapses(
            self.ai, self.ae, on_pre="v_post -= w_inh * int(not_refractory_post)", namespace=ns, name="AiAe"
        )
        self.ie.connect(condition="i != j")
        self.se = b2.EventMonitor(self.ae, "emit", record=False, name="Ae_spikes")
        self.cross = b2.SpikeMonitor(self.ae, record=False, name="Ae_crossings")
        pick = b2.NetworkOperation(self.pick, dt=dt * ms, when="thresholds", order=1, name="one_spike")
        self.si = b2.SpikeMonitor(self.ai, record=False, name="Ai_spikes")
        self.queue: list[int] = []
        self.start_step = 0
        period = math.gcd(self.time, self.rest) if self.rest else self.time
        op = b2.NetworkOperation(self.switch, dt=period * dt * ms, when="start", name="switch")
        self.net = b2.Network(
            self.inp, self.ae, self.ai, self.xe, self.ei, self.ie, self.se, self.si, self.cross, op, pick
        )
        self.net.schedule = ["start", "groups", "synapses", "thresholds", "resets", "end"]
        self.ns = ns
        self.target = b2.prefs.codegen.target
        t0 = time.perf_counter()
        self.net.run(0 * ms)  # code generation / compilation (cached by Cython across runs)
        self.build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.net.run(0 * ms)
        self.run_call_s = time.perf_counter() - t0  # the fixed cost of one run() call
        codeobj = self.ae.state_updater.codeobj
        self.codeobj = type(codeobj).__name__ if codeobj is not None else None

    def normalised(self, w: np.ndarray) -> np.ndarray:
        s = w.sum(0, keepdims=True)
        s[s == 0] = 1.0
        return w * (self.norm / s)

    def pick(self) -> None:
        """After the threshold test: the neuron(s) that emit this step's spike. BindsNET's
        ``one_spike``: one of the crossing neurons, uniformly at random (``torch.multinomial``)."""
        space = self.ae.variables["_spikespace"].get_value()
        k = int(space[-1])
        if k:
            chosen = self.ae.variables["chosen"].get_value()
            if k == 1 or not self.one_spike:
                chosen[space[:k]] = True
            else:
                chosen[space[self.rng.integers(k)]] = True

    def switch(self, t) -> None:
        """At an image's first step: finish the previous image, start the next one's input; at
        step ``time`` of an image: silence the input (the resting period)."""
        step = int(round(float(t / self.b2.defaultclock.dt))) - self.start_step
        k, phase = divmod(step, self.time + self.rest)
        if phase == 0:
            if k > 0:
                self.end_image()
            self.inp.rates = self.rates[self.queue[k]] * self.b2.Hz
        elif phase == self.time:
            self.inp.rates = 0 * self.b2.Hz

    def end_image(self) -> None:
        """``Weight.normalize`` and ``Network.reset_state_variables`` (potentials to rest,
        traces to zero, refractory counters cleared, theta kept)."""
        b2 = self.b2
        w = np.asarray(self.xe.w[:]).reshape(-1, self.n)
        self.xe.w = self.normalised(w).ravel()
        self.ae.v, self.ai.v = self.ns["v_rest_e"], self.ns["v_rest_i"]
        self.xe.pre, self.xe.post = 0.0, 0.0
        self.ae.lastspike, self.ai.lastspike = -1e9 * b2.second, -1e9 * b2.second
        self.ae.not_refractory, self.ai.not_refractory = True, True

    def present(self, images: list[int]) -> None:
        """The images one after the other in one ``Network.run`` (a run call costs Brian2 a
        fixed ~0.2 s of code generation; the image switches are a ``network_operation``)."""
        self.queue = images
        self.start_step = int(round(float(self.b2.defaultclock.t / self.b2.defaultclock.dt)))
        self.net.run(len(images) * (self.time + self.rest) * self.dt * self.b2.ms)
        self.end_image()

    def run(self, images: list[int], record: bool) -> dict:
        out: dict = {"exc_spikes": [], "exc_crossings": [], "inh_spikes": [], "mean_abs_dw": []}
        t0 = time.perf_counter()
        if not record:
            self.present(images)
            return {"seconds": time.perf_counter() - t0}
        for k in images:  # one run per image, to count its spikes
            w_before = np.array(self.xe.w[:])
            ne, nc, ni = self.se.num_events, self.cross.num_spikes, self.si.num_spikes
            self.present([k])
            out["exc_spikes"].append(int(self.se.num_events - ne))
            out["exc_crossings"].append(int(self.cross.num_spikes - nc))
            out["inh_spikes"].append(int(self.si.num_spikes - ni))
            out["mean_abs_dw"].append(float(np.abs(self.xe.w[:] - w_before).mean()))
        out["seconds"] = time.perf_counter() - t0
        out["theta_mean_mV"] = float(np.mean(self.ae.theta[:] / self.b2.mV))
        return out


def main() -> None:
    model = None
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            if req["cmd"] == "build":
                model = Model(req)
                import brian2

                reply = {
                    "ok": True,
                    "brian2": brian2.__version__,
                    "target": model.target,
                    "code_object": model.codeobj,
                    "one_spike": model.one_spike,
                    "run_call_s": model.run_call_s,
                    "build_s": model.build_s,
                    "python": sys.version.split()[0],
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                }
            elif req["cmd"] == "run":
                reply = {"ok": True, **model.run(list(req["images"]), bool(req.get("record", False)))}
            elif req["cmd"] == "quit":
                print(json.dumps({"ok": True}), flush=True)
                return
            else:
                reply = {"ok": False, "error": f"unknown command {req['cmd']!r}"}
        except Exception as err:  # noqa: BLE001 - reported to the parent as one line
            reply = {"ok": False, "error": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()

"""Unsupervised STDP training of BindsNET's ``DiehlAndCook2015`` in the fast engine.

One image at a time (batch size 1, as the paper and BindsNET's ``eth_mnist.py``): Poisson spikes
of the image (rate = intensity x ``max_rate`` Hz, ``dt`` = 1 ms) for ``timesteps`` steps, learning
on (:func:`snnsim.engine.present`), state reset between images (thresholds ``theta`` kept). Every
``update_interval`` images the excitatory neurons are labelled from the last window's spike counts
(``bindsnet.evaluation.assign_labels``) and the window's accuracy with the previous labels goes to
the history (``all_activity``), as ``eth_mnist.py`` does. Every ``checkpoint_every`` images the
state (the network with its weights and thetas, position, window, history) is committed atomically
to ``OUT/checkpoint`` (a sealed network checkpoint with the run's state in ``stdp.pt``);
each image's spikes and one-spike draws come from seeds derived from (seed, epoch, position), so
a resumed run continues to the same weights as an uninterrupted one. After training: labels from
``label_samples`` training images and the accuracy on the test split, learning off.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from snnsim.errors import UserError

CKPT_NAME = "stdp.pt"
FORMAT = "snnsim-stdp-1"


@dataclass
class STDPConfig:
    """Settings of a Diehl & Cook run (BindsNET's ``DiehlAndCook2015`` defaults unless stated)."""

    n_neurons: int = 100
    timesteps: int = 250
    max_rate: float = 63.75  # Hz at intensity 1 (the paper's 63.75 Hz)
    epochs: int = 1
    seed: int = 0
    exc: float = 22.5
    # BindsNET's eth_mnist.py value (the model's own default is 17.5): on mnist10k, 100 neurons,
    # one epoch, 17.5 gave 61.6% and 120 gave 84.2% held out (README, Results)
    inh: float = 120.0
    theta_plus: float = 0.05
    nu: tuple[float, float] = (1e-4, 1e-2)
    norm: float = 78.4
    update_interval: int = 250
    checkpoint_every: int = 1000
    label_samples: int = 10000  # at most the training set (mnist10k: all 8,000)
    min_spikes: int = 0  # the paper re-presents with +rate_step Hz below this many spikes (0: off)
    rate_step: float = 32.0

    def check(self) -> STDPConfig:
        for name in ("n_neurons", "timesteps", "epochs", "update_interval", "checkpoint_every", "label_samples"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise UserError(f"{name} must be an int >= 1, got {v!r}")
        if not 0 < float(self.max_rate) <= 1000.0:
            raise UserError(f"max_rate must be in (0, 1000] Hz at dt = 1 ms, got {self.max_rate}")
        if len(tuple(self.nu)) != 2:
            raise UserError(f"nu must be two numbers (pre, post), got {self.nu!r}")
        self.nu = tuple(float(v) for v in self.nu)  # type: ignore[assignment]
        return self


def build(cfg: STDPConfig, n_inputs: int) -> Any:
    """BindsNET's ``DiehlAndCook2015`` for ``n_inputs`` inputs (seeded by ``cfg.seed``)."""
    from bindsnet.models import DiehlAndCook2015

    torch.manual_seed(cfg.seed)
    return DiehlAndCook2015(
        n_inpt=n_inputs,
        n_neurons=cfg.n_neurons,
        exc=cfg.exc,
        inh=cfg.inh,
        dt=1.0,
        nu=cfg.nu,
        norm=cfg.norm,
        theta_plus=cfg.theta_plus,
    )


def input_weights(network: Any) -> torch.Tensor:
    """The learned input weights ``[n_inputs, n_neurons]`` (the X->Ae connection)."""
    conn = network.connections[("X", "Ae")]
    return conn.pipeline[0].value if hasattr(conn, "pipeline") else conn.w


def image_seed(seed: int, epoch: int, position: int) -> int:
    """The seed of one presentation (its Poisson spikes and one-spike draws)."""
    return (seed * 1_000_003 + epoch * 100_000_007 + position * 7_919) % (2**62)


def encode(x: torch.Tensor, cfg: STDPConfig, seed: int, rate: Optional[float] = None) -> torch.Tensor:
    """Image ``[C, H, W]`` in [0, 1] -> Poisson spikes ``[T, 1, C*H*W]`` (bool)."""
    g = torch.Generator().manual_seed(seed)
    p = x.reshape(1, -1).float() * ((rate or cfg.max_rate) / 1000.0)
    return torch.rand(cfg.timesteps, *p.shape, generator=g) < p


def present_image(network: Any, x: torch.Tensor, cfg: STDPConfig, seed: int, learning: bool = True) -> torch.Tensor:
    """One image, learning on or off, with the paper's re-presentation when ``min_spikes`` > 0;
    returns the excitatory spike counts ``[n_neurons]`` of the last presentation."""
    from snnsim.engine import present

    rate = cfg.max_rate
    for attempt in range(5 if cfg.min_spikes else 1):
        torch.default_generator.manual_seed(seed + 1 + attempt)  # CPU draws only (no lazy CUDA seeding)
        counts = present(network, encode(x, cfg, seed + attempt, rate), layer="Ae", learning=learning)[0]
        if int(counts.sum()) >= cfg.min_spikes:
            break
        rate += cfg.rate_step
    return counts


@dataclass
class State:
    """Where a training run stands (saved in the checkpoint)."""

    epoch: int = 0
    position: int = 0
    images_seen: int = 0
    elapsed_s: float = 0.0
    window_counts: list[torch.Tensor] = field(default_factory=list)
    window_labels: list[int] = field(default_factory=list)
    assignments: Optional[torch.Tensor] = None
    proportions: Optional[torch.Tensor] = None
    rates: Optional[torch.Tensor] = None
    history: list[dict[str, Any]] = field(default_factory=list)


def _save(directory: Path, network: Any, cfg: STDPConfig, state: State, meta: dict[str, Any]) -> None:
    """The run as one sealed checkpoint directory, committed atomically: the network itself
    (:func:`snnsim.core.io.save_network`: weights, thetas; ``load_network`` and ``snnsim simulate
    --checkpoint`` read it), the settings in its ``extra`` and the run's state in ``stdp.pt``."""
    from snnsim.core.io import commit_directory, save_network, tensor_bytes

    extra = {"stdp": {"format": FORMAT, "config": asdict(cfg), "meta": meta}}
    files = {CKPT_NAME: tensor_bytes(asdict(state))}
    commit_directory(directory, lambda tmp: save_network(network, tmp, extra=extra, files=files))


def load_checkpoint(directory: Path) -> dict[str, Any]:
    """The saved run, checksum-verified and read without running pickled code: ``network``
    (a plain BindsNET ``Network``), its input ``weights`` ``[n_inputs, n]``, ``config``, ``meta``
    and ``state``; one line if unreadable."""
    from snnsim.core.io import load_tensors, network_from_checkpoint, read_checkpoint, recover_directory

    try:
        recover_directory(directory)
        meta, blobs = read_checkpoint(directory)
    except FileNotFoundError:
        raise UserError(f"no STDP checkpoint in {directory}") from None
    saved = meta["extra"].get("stdp")
    if not isinstance(saved, dict) or saved.get("format") != FORMAT or CKPT_NAME not in blobs:
        raise UserError(f"{directory} is not an STDP checkpoint ({FORMAT})")
    state = load_tensors(blobs[CKPT_NAME], directory / CKPT_NAME)
    network = network_from_checkpoint(directory, meta, blobs)
    return {
        "network": network,
        "weights": input_weights(network).detach(),
        "config": saved["config"],
        "meta": saved["meta"],
        "state": state,
    }


def _resume(directory: Path, network: Any, cfg: STDPConfig, meta: dict[str, Any]) -> State:
    ckpt = load_checkpoint(directory)
    saved = {**ckpt["config"], "nu": tuple(ckpt["config"]["nu"])}
    if saved != asdict(cfg) or ckpt["meta"] != meta:
        diff = sorted(k for k in saved if saved[k] != asdict(cfg).get(k))
        diff += sorted(k for k in meta if ckpt["meta"].get(k) != meta[k])
        raise UserError(f"--resume: the checkpoint {directory} was made with other settings ({', '.join(diff)})")
    with torch.no_grad():
        input_weights(network).copy_(input_weights(ckpt["network"]))
        network.layers["Ae"].theta.copy_(ckpt["network"].layers["Ae"].theta)
    return State(**ckpt["state"])


def _window(state: State, n_labels: int) -> None:
    """eth_mnist.py's bookkeeping: accuracy of the window with the old labels, then new labels."""
    from bindsnet.evaluation import all_activity, assign_labels

    counts = torch.stack(state.window_counts).float().unsqueeze(1)  # [k, 1, n]
    labels = torch.tensor(state.window_labels)
    row: dict[str, Any] = {"images": state.images_seen, "epoch": state.epoch, "elapsed_s": round(state.elapsed_s, 3)}
    if state.assignments is not None:
        pred = all_activity(counts, state.assignments, n_labels)
        row["window_accuracy"] = float((pred == labels).float().mean())
    state.assignments, state.proportions, state.rates = assign_labels(counts, labels, n_labels, state.rates)
    state.history.append(row)
    state.window_counts, state.window_labels = [], []


def train(
    network: Any,
    data: Any,
    cfg: STDPConfig,
    out: Optional[Path] = None,
    resume: bool = False,
    progress: bool = True,
    stop_after: Optional[int] = None,
    meta: Optional[dict[str, Any]] = None,
) -> State:
    """Train ``network`` (from :func:`build`) on ``data.train`` (``x [N, C, H, W]``, ``y [N]``);
    ``out``: checkpoints go to ``out/checkpoint`` (:func:`_save`); ``stop_after``: stop (with a checkpoint)
    after that many images in total, as an interruption would."""
    from snnsim.progress import progress_bar, progress_line

    cfg.check()
    meta = dict(meta or {})
    ckpt = out / "checkpoint" if out is not None else None
    state = _resume(ckpt, network, cfg, meta) if resume and ckpt is not None else State()
    x, y = data.train.x, data.train.y
    n, n_labels = x.shape[0], int(data.num_classes)
    total = cfg.epochs * n
    bar = progress_bar(total, "stdp", "img", progress)
    bar.update(state.images_seen)
    try:
        while state.epoch < cfg.epochs:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1000 + state.epoch))
            while state.position < n:
                if stop_after is not None and state.images_seen >= stop_after:
                    return state
                i = int(order[state.position])
                t0 = time.perf_counter()
                counts = present_image(network, x[i], cfg, image_seed(cfg.seed, state.epoch, state.position))
                state.elapsed_s += time.perf_counter() - t0
                state.window_counts.append(counts)
                state.window_labels.append(int(y[i]))
                state.position += 1
                state.images_seen += 1
                bar.update(1)
                if len(state.window_counts) >= cfg.update_interval:
                    _window(state, n_labels)
                    acc = state.history[-1].get("window_accuracy")
                    if acc is not None:
                        progress_line(f"{state.images_seen} images: window accuracy {acc:.4f}")
                if ckpt is not None and state.images_seen % cfg.checkpoint_every == 0:
                    _save(ckpt, network, cfg, state, meta)
            state.epoch += 1
            state.position = 0
    finally:
        bar.close()
        if ckpt is not None:
            _save(ckpt, network, cfg, state, meta)
    return state


def label_and_evaluate(network: Any, data: Any, cfg: STDPConfig, progress: bool = True) -> dict[str, Any]:
    """Labels from ``label_samples`` training images and the test accuracy (all-activity and
    proportion-weighting read-outs), learning off."""
    from bindsnet.evaluation import all_activity, assign_labels, proportion_weighting

    from snnsim.progress import progress_bar

    n_labels = int(data.num_classes)

    def counts_of(split: Any, count: int, tag: int) -> torch.Tensor:
        out = []
        with progress_bar(count, "label" if tag == 1 else "test", "img", progress) as bar:
            for i in range(count):
                out.append(present_image(network, split.x[i], cfg, image_seed(cfg.seed, -tag, i), learning=False))
                bar.update(1)
        return torch.stack(out).float().unsqueeze(1)

    k = min(cfg.label_samples, data.train.x.shape[0])
    t0 = time.perf_counter()
    assignments, proportions, _ = assign_labels(counts_of(data.train, k, 1), data.train.y[:k], n_labels)
    test = counts_of(data.test, data.test.x.shape[0], 2)
    y = data.test.y
    pred_all = all_activity(test, assignments, n_labels)
    pred_prop = proportion_weighting(test, assignments, proportions, n_labels)
    n = k + test.shape[0]
    return {
        "accuracy_all_activity": float((pred_all == y).float().mean()),
        "accuracy_proportion_weighting": float((pred_prop == y).float().mean()),
        "predictions": pred_all,
        "labels": y,
        "label_samples": k,
        "test_samples": int(test.shape[0]),
        "assignments": assignments.tolist(),
        "eval_images_per_s": n / max(time.perf_counter() - t0, 1e-9),
    }


def receptive_fields(weights: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """``[n_inputs, n]`` weights -> ``[n, H, W]`` images (channels averaged)."""
    c, h, w = (1, *shape) if len(shape) == 2 else tuple(shape)
    return weights.t().reshape(-1, c, h, w).mean(1)


def record_examples(network: Any, split: Any, cfg: STDPConfig, count: int = 4) -> tuple[Any, torch.Tensor]:
    """Spikes of every layer for the first ``count`` images of ``split``, learning off, as one
    batch (a :class:`~snnsim.engine.Record` ``[T, count, ...]``, and their labels) for record.pt."""
    from snnsim.engine import simulate

    k = min(count, split.x.shape[0])
    spikes = torch.cat([encode(split.x[i], cfg, image_seed(cfg.seed, -3, i)) for i in range(k)], dim=1)
    torch.default_generator.manual_seed(image_seed(cfg.seed, -4, 0))
    return simulate(network, spikes, engine="fast", learning=False), split.y[:k]

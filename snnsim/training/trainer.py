"""Trainer shared by every learning rule: optimiser, schedule, progress bars, per-epoch
metrics (CSV and TensorBoard), an atomic checkpoint every epoch, resume, early stopping.

Determinism: every epoch reseeds torch's global generator with ``seed * 1000 + epoch``
and uses generators seeded from it for shuffling and input encoding, so a run resumed
from the checkpoint of epoch k continues exactly as an uninterrupted run would.

Checkpoint directory ``OUT/checkpoint`` (see :mod:`snnsim.training.checkpoint`): the network for
inference (``rule.export``, the rule's settings in ``extra``), ``trainer.pt`` (optimiser
and schedule state, epoch, history) and, when ``rule.export`` changes the network (e.g.
folds BatchNorm), the network as trained in ``OUT/checkpoint/training``; committed as one
unit every epoch and checksum-verified on ``--resume``.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from bindsnet.network import Network

from snnsim.argcheck import check_call
from snnsim.core.io import atomic_write_bytes
from snnsim.core.ops import dropout_masks
from snnsim.data.datasets import Dataset, Split
from snnsim.engine.segments import bptt_segments
from snnsim.errors import UserError
from snnsim.names import MAX_LR, MAX_SEED, OPTIMIZERS, SCHEDULES  # noqa: E402  (the one list, light for the CLI)
from snnsim.progress import progress_bar, progress_line
from snnsim.training import distributed as ddp
from snnsim.training.checkpoint import checkpoint_meta, resume_state, write_checkpoint
from snnsim.training.rule import LearningRule


@dataclass
class TrainConfig:
    """Options of :func:`fit` (all JSON-ready)."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "none"
    step_size: int = 10
    gamma: float = 0.1
    seed: int = 0
    patience: Optional[int] = None  # early stopping: epochs without held-out improvement
    eval_batch_size: int = 200
    bptt_segment: Optional[int] = None  # BPTT in checkpointed segments of K steps (snnsim.engine.segments)

    def check(self) -> TrainConfig:
        check_call(TrainConfig, asdict(self), "TrainConfig")  # types first
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise UserError("epochs, batch_size and eval_batch_size must be >= 1")
        if not 0 < self.lr <= MAX_LR:
            raise UserError(f"lr must be in (0, {MAX_LR:g}], got {self.lr}")
        if not 0 <= self.seed < MAX_SEED:
            raise UserError(f"seed must be in [0, 2**32), got {self.seed}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.patience is not None and self.patience < 1:
            raise UserError(f"patience must be >= 1, got {self.patience}")
        if self.bptt_segment is not None and self.bptt_segment < 1:  # its type: check_call above
            raise UserError(f"bptt_segment must be an int >= 1 (steps) or None, got {self.bptt_segment!r}")
        return self


def make_optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def make_schedule(opt: torch.optim.Optimizer, cfg: TrainConfig) -> Optional[torch.optim.lr_scheduler.LRScheduler]:
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)
    return None


def trainable(network: Network) -> list[torch.nn.Parameter]:
    """The parameters that training updates (BindsNET's wmin/wmax are frozen)."""
    return [p for p in network.parameters() if p.requires_grad]


def held_out_accuracy(
    rule: LearningRule, network: Network, split: Split, batch_size: int, seed: int, device: str | torch.device = "cpu"
) -> float:
    """Accuracy of ``network`` on ``split`` with the rule's differentiable read-out (no grad)."""
    network.train(False)
    gen = torch.Generator(device=device).manual_seed(seed)
    correct = 0
    with torch.no_grad():
        for x, y in split.batches(batch_size):
            x, y = x.to(device), y.to(device)
            out = rule.outputs(network, rule.encode(x, gen))
            correct += int((rule.predict(out) == y).sum())
    return correct / len(split)


def fit(
    rule: LearningRule,
    network: Optional[Network],
    data: Dataset,
    cfg: TrainConfig,
    *,
    out: Optional[Path] = None,
    resume: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = True,
    verbose: bool = True,
    tensorboard: bool = False,
    extra: Optional[dict[str, Any]] = None,
) -> tuple[Network, dict[str, Any]]:
    """Train ``network`` with ``rule`` on ``data.train``; measure ``data.test`` every epoch.

    Returns (network, summary) where summary has ``history`` (one dict per epoch),
    ``best_accuracy``, ``final_accuracy``, ``train_time_s``, ``samples_per_s``.
    With ``resume=True`` the network and trainer state are loaded from
    ``out/checkpoint`` (``network`` may be None) and training continues after its last
    finished epoch; settings that differ from the checkpoint's (``cfg`` but epochs and
    patience, and ``extra``, where callers put the rule's requested settings) are refused.
    ``progress``: progress bars (drawn only on a terminal, see :mod:`snnsim.progress`);
    ``verbose``: one summary line per epoch on stdout (rank 0), with or without bars.
    """
    cfg.check()
    ckpt = out / "checkpoint" if out is not None else None
    run = _start(rule, network, data, cfg, ckpt, resume, device, extra)
    ddp.check_batches(len(data.train), cfg.batch_size)
    lead = run.rank == 0
    out = out if lead else None  # only rank 0 writes
    progress, verbose = progress and lead, verbose and lead
    writer = _tensorboard_writer(out) if tensorboard else None
    best, stale = _best_and_stale(run.history)
    for epoch in range(run.start_epoch, cfg.epochs + 1):
        if cfg.patience is not None and stale >= cfg.patience:
            break
        row = _train_epoch(rule, run, data.train, cfg, epoch, device, progress)
        row["test_accuracy"] = held_out_accuracy(rule, run.network, data.test, cfg.eval_batch_size, cfg.seed, device)
        row = {k: row[k] for k in ("epoch", "train_loss", "train_accuracy", "test_accuracy", "lr", "seconds")}
        run.history.append(row)
        _report_epoch(row, verbose, writer)
        best, stale = _track_best(best, stale, row["test_accuracy"])
        if out is not None:
            _save_epoch(out, ckpt, rule, run, cfg, extra, epoch)
    if writer is not None:
        writer.close()
    run.network.train(False)
    return rule.export(run.network), _summary(run.history, best, len(data.train))


@dataclass
class _Run:
    """The state of one training run: the network, its optimiser and schedule, the
    history so far (non-empty on resume), the first epoch to run, this process's rank."""

    network: Network
    model: Any  # the DDP wrapper (None in one process)
    opt: torch.optim.Optimizer
    sched: Optional[torch.optim.lr_scheduler.LRScheduler]
    history: list[dict[str, Any]]
    start_epoch: int
    rank: int
    world: int


def _start(
    rule: LearningRule,
    network: Optional[Network],
    data: Dataset,
    cfg: TrainConfig,
    ckpt: Optional[Path],
    resume: bool,
    device: str | torch.device,
    extra: Optional[dict[str, Any]],
) -> _Run:
    """Load (resume) or calibrate the network, build the optimiser and schedule, wrap for DDP."""
    state: dict[str, Any] = {}
    if resume:
        current = {"train_config": asdict(cfg), **(extra or {})}
        network, state = getattr(rule, "resume_state", resume_state)(ckpt, current, device)
    elif network is None:
        raise UserError("fit needs a network unless it resumes from a checkpoint")
    else:
        rule.calibrate(network, data.train)  # explicit (e.g. TTFS windows); a no-op once done
    network.to(device)
    rule.prepare(network)
    opt = make_optimizer(trainable(network), cfg)
    sched = make_schedule(opt, cfg)
    history: list[dict[str, Any]] = []
    start_epoch = 1
    if resume:
        opt.load_state_dict(state["optimizer"])
        if sched is not None and state.get("schedule") is not None:
            sched.load_state_dict(state["schedule"])
        history = list(state["history"])
        start_epoch = int(state["epoch"]) + 1
        if hasattr(rule, "load_rng_state"):
            rule.load_rng_state(state.get("rng"), device)
    rank, world = ddp.rank_world()
    return _Run(network, ddp.wrap(rule, network), opt, sched, history, start_epoch, rank, world)


def _tensorboard_writer(out: Optional[Path]) -> Any:
    """A TensorBoard SummaryWriter under ``out/tensorboard``; None without ``out`` or tensorboard."""
    if out is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(out / "tensorboard"))
    except ImportError:  # pragma: no cover - tensorboard is optional
        return None


def _track_best(best: float, stale: int, accuracy: float) -> tuple[float, int]:
    """Early stopping's bookkeeping after one epoch: (best held-out accuracy, epochs since it
    improved). A tie with the best is no improvement."""
    return max(best, accuracy), 0 if accuracy > best else stale + 1


def _best_and_stale(history: list[dict[str, Any]]) -> tuple[float, int]:
    """:func:`_track_best` replayed over the finished epochs (for early stopping on resume), so a
    resumed run stops at the epoch an uninterrupted one would."""
    best, stale = -1.0, 0
    for h in history:
        best, stale = _track_best(best, stale, h["test_accuracy"])
    return best, stale


def _train_epoch(
    rule: LearningRule,
    run: _Run,
    train: Split,
    cfg: TrainConfig,
    epoch: int,
    device: str | torch.device,
    progress: bool,
) -> dict[str, Any]:
    """One epoch over ``train`` (reseeded from ``cfg.seed`` and ``epoch``); steps the schedule.

    Returns the epoch's row without ``test_accuracy``: epoch, train_loss and
    train_accuracy (over all ranks), lr (the epoch's, before the schedule steps), seconds.
    """
    network, opt = run.network, run.opt
    gen, drop_gen = _epoch_generators(rule, cfg.seed, epoch, device)
    enc_gen = _encoding_generator(gen, cfg.seed * 1000 + epoch, device)
    network.train(True)
    t0 = time.perf_counter()
    total, correct, loss_sum = 0, 0, 0.0
    bar = progress_bar(len(train), f"epoch {epoch}/{cfg.epochs}", "sample", progress)
    for x, y in train.batches(cfg.batch_size, shuffle=True, generator=gen):
        x, y = x.to(device), y.to(device)
        inputs, y = ddp.shard(rule, rule.encode(x, enc_gen), y)
        with dropout_masks(network, drop_gen, x.shape[0], run.rank, run.world), bptt_segments(cfg.bptt_segment):
            outputs = run.model(inputs) if run.model is not None else rule.outputs(network, inputs)
        loss = rule.loss(outputs, y)  # mean over this rank's samples
        if not torch.isfinite(loss):
            where = f"layer {list(network.layers)[-1]!r}" if isinstance(network, Network) else "the model"
            raise UserError(
                f"training stopped at epoch {epoch}: the loss became {loss.item()} (read-out of "
                f"{where}); {_NOT_FINITE_HINT}"
            )
        opt.zero_grad(set_to_none=True)
        (loss * ddp.loss_scale(y.shape[0], x.shape[0])).backward()  # every sample weighs 1/batch
        opt.step()
        check_finite_weights(network, epoch)
        rule.after_step(network)
        total += y.shape[0]
        correct += int((rule.predict(outputs.detach()) == y).sum())
        loss_sum += float(loss.detach()) * y.shape[0]
        bar.update(x.shape[0])
        bar.set_postfix(loss=f"{loss_sum / total:.4f}", acc=f"{correct / total:.3f}")
    bar.close()
    loss_sum, correct, total = ddp.all_sum([loss_sum, correct, total])  # the whole epoch
    seconds = time.perf_counter() - t0
    lr = opt.param_groups[0]["lr"]
    if run.sched is not None:
        run.sched.step()
    return {
        "epoch": epoch,
        "train_loss": loss_sum / total,
        "train_accuracy": correct / total,
        "lr": lr,
        "seconds": seconds,
    }


def _epoch_generators(
    rule: LearningRule, seed: int, epoch: int, device: str | torch.device
) -> tuple[torch.Generator, Optional[torch.Generator]]:
    """(shuffling/encoding generator, dropout generator) of ``epoch``, torch's global generator
    reseeded from ``seed * 1000 + epoch``. A rule with ``epoch_generators`` draws its own (the
    ReLU ANN: one stream per run, kept in the checkpoint by ``rng_state``/``load_rng_state``)."""
    if hasattr(rule, "epoch_generators"):
        return rule.epoch_generators(seed, epoch, device)
    torch.manual_seed(seed * 1000 + epoch)
    return (
        torch.Generator().manual_seed(seed * 1000 + epoch),
        torch.Generator(device=device).manual_seed(dropout_seed(seed * 1000 + epoch)),
    )


def _encoding_generator(gen: torch.Generator, epoch_seed: int, device: str | torch.device) -> torch.Generator:
    """The generator of the epoch's input encoding: on the CPU the shuffling generator itself
    (one stream, as before); elsewhere one on ``device`` (a CPU generator cannot draw there),
    seeded from ``epoch_seed`` apart from the shuffling and dropout streams."""
    dev = torch.device(device)
    if gen.device.type == dev.type:
        return gen
    return torch.Generator(device=dev).manual_seed((dropout_seed(epoch_seed) + 0x5851F42D4C957F2D) % 2**63)


_NOT_FINITE_HINT = (
    "the checkpoint of the last good epoch is kept; lower --lr or check the data, then --resume or start again"
)


def check_finite_weights(network: Network, epoch: int) -> None:
    """Stop training (one line naming the connection and ``epoch``) when a step left NaN or
    infinite weights; the checkpoint of the last finished epoch is not replaced. One reduction
    and one device sync per step; only a non-finite total looks for the culprit."""
    if isinstance(network, Network):
        params = [
            (f"{key} of the connection {src}->{tgt} (into layer {tgt!r})", p)
            for (src, tgt), conn in network.connections.items()
            for key, p in conn.named_parameters()
            if p.requires_grad
        ]  # not wmin/wmax (+-inf)
    else:  # a plain torch module (the ReLU ANN)
        params = [(f"{key} of the model", p) for key, p in network.named_parameters() if p.requires_grad]
    if not params or bool(torch.isfinite(torch.stack([p.detach().float().sum() for _, p in params]).sum())):
        return
    for what, param in params:
        if not bool(torch.isfinite(param.detach()).all()):
            raise UserError(
                f"training stopped at epoch {epoch}: the weights {what} became NaN or infinite; {_NOT_FINITE_HINT}"
            )


def _report_epoch(row: dict[str, Any], verbose: bool, writer: Any) -> None:
    """The epoch's summary line (``verbose``) and TensorBoard scalars (``writer``)."""
    if verbose:
        progress_line(
            f"epoch {row['epoch']}: loss {row['train_loss']:.4f}, train {row['train_accuracy']:.4f}, "
            f"held-out {row['test_accuracy']:.4f} ({row['seconds']:.1f} s)"
        )
    if writer is not None:
        for k in ("train_loss", "train_accuracy", "test_accuracy", "lr"):
            writer.add_scalar(k, row[k], row["epoch"])


def _save_epoch(
    out: Path, ckpt: Path, rule: LearningRule, run: _Run, cfg: TrainConfig, extra: Optional[dict[str, Any]], epoch: int
) -> None:
    """``out/metrics.csv`` and the atomic checkpoint of the finished ``epoch``; a rule whose
    model is no BindsNET network (the ReLU ANN, :mod:`snnsim.training.ann_rule`) writes its own
    (``rule.write_checkpoint``, read back by ``rule.resume_state``)."""
    _write_csv(out / "metrics.csv", run.history)
    meta = checkpoint_meta(rule, cfg, extra, epoch)
    state = {
        "epoch": epoch,
        "history": run.history,
        "optimizer": run.opt.state_dict(),
        "schedule": run.sched.state_dict() if run.sched is not None else None,
    }
    if hasattr(rule, "rng_state"):
        state["rng"] = rule.rng_state()
    if hasattr(rule, "write_checkpoint"):
        rule.write_checkpoint(ckpt, run.network, meta, state)
    else:
        write_checkpoint(ckpt, rule, run.network, meta, state)


def _summary(history: list[dict[str, Any]], best: float, n_train: int) -> dict[str, Any]:
    """fit's summary: history, best/final held-out accuracy, train time and throughput."""
    train_seconds = sum(h["seconds"] for h in history)
    return {
        "history": history,
        "best_accuracy": best,
        "final_accuracy": history[-1]["test_accuracy"] if history else None,
        "train_time_s": train_seconds,
        "samples_per_s": n_train * len(history) / train_seconds if train_seconds > 0 else None,
        "epochs_run": len(history),
    }


def dropout_seed(epoch_seed: int) -> int:
    """Seed of the epoch's dropout generator: derived from, but not equal to, the seed of
    the shuffling/encoding generator (equal seeds would give correlated streams)."""
    return (epoch_seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**63


def _write_csv(path: Path, history: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    atomic_write_bytes(path, buf.getvalue().encode())

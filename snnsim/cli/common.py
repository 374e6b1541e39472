"""Options and helpers shared by the subcommands.

The argparse types and ``add_*_args`` builders import no torch (the parsers in
:mod:`snnsim.cli.parsers` stay fast); the run helpers import it when called.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

from snnsim.errors import UserError
from snnsim.names import DATASETS, EVENT_DATASETS, MAX_LR, MAX_SEED

if TYPE_CHECKING:
    import torch

    from snnsim.data.datasets import Dataset


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text}")
    return value


def seed_int(text: str) -> int:
    """An argparse type: a random seed, an integer in [0, 2**32)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**32), got {text}")
    return value


def float_in(what: str, ok: Callable[[float], bool]) -> Callable[[str], float]:
    """An argparse type: a float for which ``ok`` holds, else "expected {what}, got ..."."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


def learning_rate(text: str) -> float:
    """An argparse type: a learning rate in (0, MAX_LR]."""
    value = positive_float(text)
    if value > MAX_LR:
        raise argparse.ArgumentTypeError(f"expected a learning rate in (0, {MAX_LR:g}], got {text}")
    return value


def layer_sizes(text: str, option: str = "--hidden") -> tuple[int, ...]:
    """``"340"`` or ``"1200,1200"`` -> layer sizes; raises :class:`UserError` (one line, exit 2)."""
    try:
        sizes = tuple(int(h) for h in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise UserError(f"{option} must be comma-separated positive integers (e.g. 340 or 1200,1200), got {text!r}")
    return sizes


def add_data_args(p: argparse.ArgumentParser, default: str = "digits", events: bool = False) -> None:
    """The data options; ``events``: also the event datasets (nmnist, shd) with --bin-us and --tonic."""
    g = p.add_argument_group("data")
    g.add_argument(
        "--dataset",
        default=default,
        choices=DATASETS + (EVENT_DATASETS if events else ()),
        help=f"dataset (default {default}; 'digits' is embedded and works offline)",
    )
    g.add_argument(
        "--data-dir",
        default=None,
        help="IDX directory for mnist10k (default ../shared/data/mnist or $SNNSIM_MNIST_DIR)",
    )
    g.add_argument(
        "--data-root",
        default=None,
        help="torchvision dataset root (mnist, fashion-mnist, cifar10)"
        + (
            "; nmnist: the folder holding Train/ and Test/, shd: the folder holding shd_train.h5 and "
            "shd_test.h5 (default $SNNSIM_DATA_ROOT/NMNIST or /SHD)"
            if events
            else ""
        ),
    )
    g.add_argument("--download", action="store_true", help="download torchvision datasets when online")
    g.add_argument("--limit", type=positive_int, default=None, help="use only the first N samples of each split")
    if events:
        g.add_argument(
            "--bin-us",
            type=positive_float,
            default=None,
            metavar="US",
            help="nmnist/shd: microseconds of events per time step (default: 300 ms for nmnist, "
            "1 s for shd, divided by the time steps; events past T bins are dropped)",
        )
        g.add_argument(
            "--tonic", action="store_true", help="nmnist/shd: read (and download) through the optional tonic package"
        )


def add_run_args(p: argparse.ArgumentParser, batch_size: int = 100) -> None:
    g = p.add_argument_group("execution")
    g.add_argument(
        "--batch-size", type=positive_int, default=batch_size, help=f"samples per batch (default {batch_size})"
    )
    g.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    g.add_argument("--seed", type=seed_int, default=0, help="random seed in [0, 2**32) (default 0)")
    g.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's)")
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g.add_argument(
        "--max-memory",
        default=None,
        metavar="SIZE",
        help="refuse networks and runs whose tensors would exceed SIZE, e.g. 64G "
        "(default: $SNNSIM_MAX_MEMORY, else the physical memory)",
    )


def run_distributed(args: argparse.Namespace, body: Callable[[argparse.Namespace], int]) -> int:
    """``body(args)`` under the collectives' timeouts, inside a process group when ``--distributed``
    (joined from ``--device``/``--dist-timeout`` and left afterwards, also on failure)."""
    from snnsim.training import distributed as ddp

    if args.distributed:
        ddp.init(args.device, timeout=args.dist_timeout)
    try:
        with ddp.collective_timeouts():
            return body(args)
    finally:
        if args.distributed:
            ddp.shutdown()


def fit_from_args(
    args: argparse.Namespace, rule: Any, model: Any, data: Any, cfg: Any, out: Path, extra: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """:func:`snnsim.training.trainer.fit` with the command line's ``--resume``, ``--device``,
    ``--no-progress`` and ``--tensorboard``: (trained model, summary)."""
    from snnsim.training.trainer import fit

    return fit(
        rule,
        model,
        data,
        cfg,
        out=out,
        resume=args.resume,
        device=args.device,
        progress=not args.no_progress,
        tensorboard=args.tensorboard,
        extra=extra,
    )


def setup_run(args: argparse.Namespace) -> None:
    """Apply --seed, --threads, --max-memory and check --device."""
    import torch

    from snnsim.limits import set_max_memory

    set_max_memory(args.max_memory)
    torch.manual_seed(args.seed)
    check_device(args.device)
    set_threads(args.threads)


def set_threads(threads: Optional[int]) -> None:
    """Apply --threads (None: leave torch's number of CPU threads as it is)."""
    import torch

    if threads:
        limit = max(64, 4 * (os.cpu_count() or 1))
        if threads > limit:  # libgomp aborts the process when it cannot start them
            raise UserError(f"--threads {threads} is more than {limit} (4 per CPU core, at least 64)")
        torch.set_num_threads(threads)


def check_device(device: str) -> None:
    """Refuse a --device that torch does not know, that is not present, or that cannot hold
    data (``meta``): snnsim runs on cpu, cuda[:N] and mps."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"unknown --device {device!r} (try cpu or cuda)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError("--device cuda was asked for, but no CUDA device is available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"--device {device}: there are only {torch.cuda.device_count()} CUDA devices")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise UserError("--device mps was asked for, but no MPS device is available")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"--device {device}: snnsim runs on cpu, cuda or mps, not {dev.type}")


def load_data(
    args: argparse.Namespace, *, timesteps: Optional[int] = None, bin_us: Optional[float] = None, **kw: Any
) -> Dataset:
    """The --dataset of ``args``; an event dataset binned into ``timesteps`` bins of ``bin_us``
    microseconds (default: --bin-us, else the dataset's window over ``timesteps``)."""
    if args.dataset in EVENT_DATASETS:
        from snnsim.data.event_frames import load_event_dataset

        if timesteps is None:
            raise UserError(f"--dataset {args.dataset} needs the number of time steps to bin its events into")
        return load_event_dataset(
            args.dataset,
            timesteps=timesteps,
            root=args.data_root,
            bin_us=bin_us if bin_us is not None else getattr(args, "bin_us", None),
            limit=args.limit,
            use_tonic=getattr(args, "tonic", False),
        )
    from snnsim.data.datasets import load_dataset

    return load_dataset(
        args.dataset, data_dir=args.data_dir, root=args.data_root, download=args.download, limit=args.limit, **kw
    )


def out_dir(path: str, lock: bool = True) -> Path:
    """Create ``--out`` (and its parents), check that files can be written in it and (``lock``)
    lock it against other snnsim processes: the one place every command makes its output
    directory (see :mod:`snnsim.cli.outdir`). Raises :class:`UserError` (one line, exit 2)."""
    from snnsim.cli.outdir import open_out

    return open_out(path, "--out", lock)


def write_report(out: Path, report: dict[str, Any]) -> Path:
    from snnsim.core.io import atomic_write_json

    path = out / "report.json"
    atomic_write_json(path, report)
    return path


def threads_info() -> dict[str, Any]:
    import torch

    return {"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}


def written_files(out: Path, paths: list[Path]) -> list[str]:
    """The files of ``paths`` (a directory: every file under it), relative to ``out``."""
    files: list[Path] = []
    for p in paths:
        files += sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    return [str(f.relative_to(out)) if f.is_relative_to(out) else str(f) for f in files]


def print_written(out: Path, paths: list[Path]) -> None:
    """Print the one "wrote" line of a command: ``wrote OUT/: a, b, dir/c`` (every file)."""
    print(f"wrote {out}/: {', '.join(written_files(out, paths))}")


@dataclass(frozen=True)
class EncoderChoice:
    """A command's input coding, resolved from its options (and a checkpoint's settings):
    the encoder's name, at most one of ``max_rate`` (Poisson, Hz) and ``prob_scale``
    (Bernoulli/Poisson probability per step = x * prob_scale), and further keyword
    arguments of the encoder (e.g. a saved latency window)."""

    name: str
    max_rate: Optional[float] = None
    prob_scale: Optional[float] = None
    params: Mapping[str, Any] = field(default_factory=dict)


def make_encoder(choice: EncoderChoice, seed: int, device: str) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """The encoder ``f(x [B, ...], T) -> [T, B, ...]`` of ``choice``, with a generator on
    ``device`` seeded by ``seed`` for the stochastic ones."""
    import torch

    import encoders

    gen = torch.Generator(device=device).manual_seed(seed)
    name, max_rate, prob_scale = choice.name, choice.max_rate, choice.prob_scale
    if name in ("poisson", "bernoulli"):
        kw: dict[str, Any] = {"generator": gen}
        if max_rate is not None and prob_scale is not None:
            raise UserError("give --max-rate or --prob-scale, not both")
        if name == "poisson" and prob_scale is None:
            kw["max_rate"] = max_rate if max_rate is not None else 1000.0
        elif max_rate is not None:
            raise UserError("--max-rate applies to --encoder poisson only")
        else:
            kw["prob_scale"] = prob_scale if prob_scale is not None else 1.0
        return encoders.get_encoder(name, **kw)
    if max_rate is not None or prob_scale is not None:
        raise UserError(f"--max-rate/--prob-scale do not apply to --encoder {name}")
    return encoders.get_encoder(name, **choice.params)


def train_from_args(args: argparse.Namespace, data: Dataset, batch_size: int, **options: Any) -> tuple:
    """Build the ANN ``args.net`` for ``data`` (``options``: further builder arguments, e.g.
    ``hidden``, ``bias``) and train it with the ANN training options (``train-ann``,
    ``convert --net``); returns (model on cpu, history, held-out accuracy)."""
    from snnsim.training.ann import ann_accuracy, build_ann, train_ann

    model = build_ann(
        args.net, input_shape=data.input_shape, n_classes=data.num_classes, dropout=args.dropout, **options
    )
    history = train_ann(
        model,
        data.train,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=batch_size,
        seed=args.seed,
        progress=not args.no_progress,
        val_split=data.test,
        device=args.device,
        optimizer=args.optimizer,
        momentum=args.momentum,
    )
    model = model.cpu()
    return model, history, ann_accuracy(model, data.test)

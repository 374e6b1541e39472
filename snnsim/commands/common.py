"""Options and helpers shared by the subcommands."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch

from ..data import DATASETS, Dataset, load_dataset
from ..io import atomic_write_json


class CLIError(Exception):
    """A user error on the command line: printed as one line, exit code 2."""


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


def layer_sizes(text: str, option: str = "--hidden") -> tuple[int, ...]:
    """``"340"`` or ``"1200,1200"`` -> layer sizes; raises :class:`CLIError` (one line, exit 2)."""
    try:
        sizes = tuple(int(h) for h in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise CLIError(f"{option} must be comma-separated positive integers (e.g. 340 or 1200,1200), got {text!r}")
    return sizes


def add_data_args(p: argparse.ArgumentParser, default: str = "digits") -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=default, choices=DATASETS,
                   help=f"dataset (default {default}; 'digits' is embedded and works offline)")
    g.add_argument("--data-dir", default=None,
                   help="IDX directory for mnist10k (default ../shared/data/mnist or $SNNSIM_MNIST_DIR)")
    g.add_argument("--data-root", default=None, help="torchvision dataset root (mnist, fashion-mnist, cifar10)")
    g.add_argument("--download", action="store_true", help="download torchvision datasets when online")
    g.add_argument("--limit", type=positive_int, default=None, help="use only the first N samples of each split")


def add_run_args(p: argparse.ArgumentParser, batch_size: int = 100) -> None:
    g = p.add_argument_group("execution")
    g.add_argument("--batch-size", type=positive_int, default=batch_size,
                   help=f"samples per batch (default {batch_size})")
    g.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's)")
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")


def setup_run(args: argparse.Namespace) -> None:
    """Apply --seed, --threads and check --device."""
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    if str(args.device).startswith("cuda") and not torch.cuda.is_available():
        raise CLIError("--device cuda was asked for, but no CUDA device is available")
    try:
        torch.device(args.device)
    except RuntimeError:
        raise CLIError(f"unknown --device {args.device!r} (try cpu or cuda)") from None


def load_data(args: argparse.Namespace, **kw: Any) -> Dataset:
    return load_dataset(args.dataset, data_dir=args.data_dir, root=args.data_root,
                        download=args.download, limit=args.limit, **kw)


def out_dir(path: str) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {path} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_report(out: Path, report: dict[str, Any]) -> Path:
    path = out / "report.json"
    atomic_write_json(path, report)
    return path


def read_report(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "report.json"
    if not path.is_file():
        raise CLIError(f"{run_dir} has no report.json (is it a run directory?)")
    return json.loads(path.read_text())


def threads_info() -> dict[str, Any]:
    return {"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}

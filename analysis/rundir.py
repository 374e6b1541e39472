"""Read a run directory: ``report.json`` and ``record.pt`` (written by ``snnsim`` commands
with :func:`save_record`, read back with :func:`load_record`)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import torch

from snnsim.core.io import atomic_write_bytes, load_tensors, read_json_object
from snnsim.engine import Record
from snnsim.errors import UserError

RECORD_FILE = "record.pt"


@dataclass
class RunData:
    """What a run directory holds. ``record``/``labels`` are None without ``record.pt``."""

    path: Path
    report: dict[str, Any] = field(default_factory=dict)
    record: Optional[Record] = None
    labels: Optional[torch.Tensor] = None

    def need_record(self) -> Record:
        """The record, or a ValueError saying that ``record.pt`` is missing."""
        if self.record is None:
            raise UserError(
                f"{self.path} has no record.pt (spikes of a few samples); run `snnsim simulate --out "
                f"{self.path}` to make one"
            )
        return self.record


def _compact(t: torch.Tensor) -> torch.Tensor:
    """A CPU copy of ``t`` that owns exactly its elements: a slice such as ``x[:, :4]``
    still references its whole batch's storage, which ``torch.save`` would write out."""
    return t.detach().to("cpu").clone(memory_format=torch.contiguous_format)


def save_record(path: Union[str, Path], record: Record, labels: Optional[torch.Tensor] = None) -> Path:
    """Write ``record`` (spikes/potentials ``[T, B, ...]``, dt, layer kinds) and ``labels``
    ``[B]`` to ``path`` (atomically), as :func:`load_record` reads it. Every tensor is
    stored as a compact copy, so the file is about the size of the data. Returns ``path``."""
    path = Path(path)
    data = {
        "spikes": {k: _compact(v) for k, v in record.spikes.items()},
        "voltages": {k: _compact(v) for k, v in record.voltages.items()},
        "dt": float(record.dt),
        "kinds": dict(record.kinds),
        "labels": None if labels is None else _compact(torch.as_tensor(labels)),
    }
    buf = io.BytesIO()
    torch.save(data, buf)
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_record(path: Union[str, Path]) -> tuple[Record, Optional[torch.Tensor]]:
    """(Record, labels ``[B]`` or None) from a ``record.pt`` file."""
    path = Path(path)
    data = load_tensors(path.read_bytes(), path)  # corrupt, truncated or code-carrying: one-line UserError
    if not isinstance(data, dict) or not isinstance(data.get("spikes"), dict) or not data["spikes"]:
        raise UserError(f"{path} is not a record file: expected a dict with a non-empty 'spikes' dict")
    spikes, voltages = dict(data["spikes"]), data.get("voltages") or {}
    if not isinstance(voltages, dict) or not all(
        isinstance(v, torch.Tensor) for v in [*spikes.values(), *voltages.values()]
    ):
        raise UserError(f"{path} is not a record file: its spikes and voltages must be dicts of tensors")
    shapes = {tuple(v.shape[:2]) for v in spikes.values()}
    if len(shapes) != 1 or any(v.dim() < 2 for v in spikes.values()):
        raise UserError(
            f"{path}: every layer's spikes must be [T, B, ...] with the same T and B, got "
            f"{ {k: list(v.shape) for k, v in spikes.items()} }"
        )
    kinds = {str(k): str(v) for k, v in (data.get("kinds") or {}).items()}  # absent in older files
    rec = Record(spikes, dict(voltages), float(data.get("dt", 1.0)), kinds)
    labels = data.get("labels")
    return rec, (torch.as_tensor(labels).reshape(-1) if labels is not None else None)


#: Fields of report.json that readers use, with the JSON types they must have (or null).
REPORT_FIELDS: dict[str, tuple[type, ...]] = {
    "net": (str,),
    "command": (str,),
    "method": (str,),
    "readout": (str,),
    "output_layer": (str,),
    "best_norm": (str,),
    "checkpoint": (str,),
    "snn_checkpoint": (str,),
    "num_classes": (int,),
    "samples": (int,),
    "timesteps": (int,),
    "dt": (int, float),
    "ann_accuracy": (int, float),
    "confusion_matrix": (list,),
}


def check_report(report: dict[str, Any], path: Path) -> None:
    """Refuse a report.json field of the wrong JSON type (one line naming the field)."""
    for key, types in REPORT_FIELDS.items():
        value = report.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            want = {str: "a string", int: "a number" if float in types else "an integer", list: "a list"}[types[0]]
            raise UserError(f"{path}: field {key!r} must be {want} or null, got {json_type(value)} {value!r}"[:300])
    if report.get("num_classes") is not None and report["num_classes"] < 1:
        raise UserError(f"{path}: field 'num_classes' must be >= 1, got {report['num_classes']}")


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (for messages)."""
    names = {
        bool: "a boolean",
        str: "a string",
        int: "an integer",
        float: "a number",
        list: "a list",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)


def load_run(run_dir: Union[str, Path]) -> RunData:
    """Load ``report.json`` (optional if ``record.pt`` exists) and ``record.pt`` of ``run_dir``."""
    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"run directory {path} does not exist")
    rep_path, rec_path = path / "report.json", path / RECORD_FILE
    if not rep_path.is_file() and not rec_path.is_file():
        raise UserError(f"{path} has neither report.json nor record.pt (is it a run directory?)")
    report: dict[str, Any] = {}
    if rep_path.is_file():
        report = read_json_object(rep_path, "report")
        check_report(report, rep_path)
    run = RunData(path, report)
    if rec_path.is_file():
        run.record, run.labels = load_record(rec_path)
    return run

"""Save and load a Network (spec + weights) to a directory.

Layout of a checkpoint directory::

    network.json   {"format": "snnsim-network", "version": 1, "spec": {...},
                    "weights_sha256": "...", "extra": {...}}
    weights.pt     tensors only (connection parameters and buffers), loaded with
                   ``torch.load(weights_only=True)``: no pickled code is ever run.

Both files are written atomically (temporary file, fsync, rename), so a crash
never leaves a half-written checkpoint behind.
"""
from __future__ import annotations

import hashlib
import io as _io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

import torch
from bindsnet.network import Network

from .spec import build_network, network_spec

FORMAT = "snnsim-network"
VERSION = 1
SPEC_FILE = "network.json"
WEIGHTS_FILE = "weights.pt"


def atomic_write_bytes(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Union[str, Path], obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def connection_state(network: Network) -> dict[str, torch.Tensor]:
    """Parameters and buffers of every connection's modules, keyed ``"src->tgt/<name>"``."""
    state = {}
    for (src, tgt), conn in network.connections.items():
        for key, value in conn.layers.state_dict().items():
            state[f"{src}->{tgt}/{key}"] = value.detach().cpu().clone()
    return state


def save_network(network: Network, directory: Union[str, Path], extra: Optional[dict[str, Any]] = None) -> Path:
    """Save ``network`` to ``directory`` (created if needed). Returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    spec = network_spec(network)
    buf = _io.BytesIO()
    torch.save(connection_state(network), buf)
    blob = buf.getvalue()
    atomic_write_bytes(directory / WEIGHTS_FILE, blob)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "spec": spec,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "extra": extra or {},
    }
    atomic_write_json(directory / SPEC_FILE, meta)
    return directory


def read_format_json(path: Path, fmt: str, what: str) -> dict[str, Any]:
    """Read a JSON file whose ``"format"`` must be ``fmt``; clear errors for a corrupt,
    truncated or foreign file (``what`` names the kind of file in the message)."""
    try:
        obj = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON (truncated or corrupt?): {err}") from None
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        raise ValueError(f"{path} is not an snnsim {what} file (format != {fmt!r})")
    return obj


def read_meta(directory: Union[str, Path]) -> dict[str, Any]:
    """Read and check ``network.json`` of a checkpoint directory."""
    directory = Path(directory)
    meta_path = directory / SPEC_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"no snnsim checkpoint in {directory}: expected {SPEC_FILE} and {WEIGHTS_FILE}"
        )
    meta = read_format_json(meta_path, FORMAT, "network")
    if meta.get("version") != VERSION:
        raise ValueError(f"{meta_path} has version {meta.get('version')!r}; this snnsim reads version {VERSION}")
    return meta


def load_network(directory: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Network:
    """Rebuild the Network saved in ``directory`` and load its weights (checksum-verified)."""
    directory = Path(directory)
    meta = read_meta(directory)
    wpath = directory / WEIGHTS_FILE
    if not wpath.is_file():
        raise FileNotFoundError(f"checkpoint {directory} has {SPEC_FILE} but no {WEIGHTS_FILE}")
    blob = wpath.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != meta.get("weights_sha256"):
        raise ValueError(
            f"{wpath} does not match the checksum in {SPEC_FILE} (truncated or corrupt file)"
        )
    state = torch.load(_io.BytesIO(blob), map_location=map_location, weights_only=True)
    network = build_network(meta["spec"])
    for (src, tgt), conn in network.connections.items():
        prefix = f"{src}->{tgt}/"
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        missing, unexpected = conn.layers.load_state_dict(sub, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"weights for {src}->{tgt} do not fit the spec: missing {missing}, unexpected {unexpected}"
            )
    return network

"""Save and load a Network (spec + weights) to a directory; integrity of saved files.

Layout of a checkpoint directory::

    network.json   {"format": "snnsim-network", "version": 2, "spec": {...}, "extra": {...},
                    "files": {"weights.pt": "<sha256>", ...}, "sha256": "<sha256>"}
    weights.pt     tensors only (connection parameters and buffers), loaded with
                   ``torch.load(weights_only=True)``: no pickled code is ever run.

Integrity (one mechanism, also used by ``snnsim.training.ann`` and the trainer): a *sealed* JSON
(:func:`write_sealed`) is written after the files it describes and binds them by sha256
(``"files"``) and itself by the sha256 of its canonical content (``"sha256"``), so an
edited spec, a truncated or swapped weights file or a file from another save is refused
on load (:func:`read_sealed`) with a one-line :class:`~snnsim.errors.UserError`.

Each file is written atomically (temporary file, fsync, rename). A unit of several
files that must change together (the trainer's checkpoint) is committed with
:func:`commit_directory`: built in a staging directory, then renamed into place;
:func:`recover_directory` finishes or discards a commit that was killed half-way.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import os
import pickle
import re
import secrets
import shutil
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
from bindsnet.network import Network

from snnsim.argcheck import as_path, regular_file
from snnsim.core.checks import check_finite, network_tensors
from snnsim.core.connections import ModuleConnection
from snnsim.core.spec import build_network, network_spec, validate_spec
from snnsim.core.stock_spec import load_stock_state, stock_state
from snnsim.errors import UserError
from snnsim.limits import check_allocation

FORMAT = "snnsim-network"
VERSION = 2  # 2: spec and weights bound by the sealed network.json (1 had no spec checksum)
SPEC_FILE = "network.json"
WEIGHTS_FILE = "weights.pt"
#: Largest JSON file (spec, ann.json, report) read: checked before it is read or anything built.
MAX_JSON_BYTES = 256 * 1024**2
JSON_BYTES_PER_BYTE = 16  # Python objects per byte of JSON text (lists of floats: ~12)


def _create_temp(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path`` opened for writing: (fd, name). Unlike
    ``tempfile.mkstemp`` (always 0600) it is created with mode 0666, which the kernel
    reduces by the umask, so the renamed file has the usual mode of a new file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {path}")


def atomic_write_bytes(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and a rename.
    The file gets the mode a plain ``open(path, "w")`` would give (0666 less the umask)."""
    path = as_path(path, "path")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
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
    """Write ``obj`` as indented, strict JSON atomically (NaN/inf are refused: ValueError)."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n").encode())


# Names of the temporary files of atomic_write_bytes (and of older tempfile.mkstemp ones).
_TEMP_NAME = re.compile(r"^\..+\.[0-9a-z_]{8,12}\.tmp$")


def remove_stale_temps(directory: Union[str, Path]) -> None:
    """Delete temporary files that a killed :func:`atomic_write_bytes` left in ``directory``
    (call only where no other process writes at the same time)."""
    directory = as_path(directory, "directory")
    if directory.is_dir():
        for entry in directory.iterdir():
            if _TEMP_NAME.match(entry.name) and entry.is_file():
                entry.unlink()


# --------------------------------------------------------------------------- integrity
SEAL_KEY = "sha256"
FILES_KEY = "files"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tensor_bytes(obj: Any) -> bytes:
    """``torch.save(obj)`` as bytes (tensors and plain data: loadable with ``weights_only``)."""
    buf = _io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def state_dict_mismatch(err: Exception) -> str:
    """The line of a ``load_state_dict`` error that says what does not fit (its ``size
    mismatch`` line, else its first line), for a one-line :class:`UserError`."""
    lines = str(err).splitlines() or [type(err).__name__]
    return next((ln.strip() for ln in lines if "size mismatch" in ln), lines[0])


def load_tensors(data: bytes, path: Path, map_location: Union[str, torch.device] = "cpu") -> Any:
    """``torch.load(weights_only=True)`` of ``data`` (read from ``path``); a truncated or
    corrupt file, or one carrying pickled code, is a one-line :class:`UserError`."""
    try:
        return torch.load(_io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [ln for ln in str(err).splitlines() if ln.startswith("Trying to load unsupported")]
        why = lines[0] if lines else "it holds objects other than tensors and plain data"
        raise UserError(f"{path} was refused by torch.load(weights_only=True): {why}") from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        why = str(err).split(". ")[0].strip() or type(err).__name__
        raise UserError(f"{path} is not a readable torch file (truncated or corrupt?): {why}") from None


def _seal(body: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``body`` without its seal."""
    body = {k: v for k, v in body.items() if k != SEAL_KEY}
    return sha256_hex(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def write_sealed(path: Union[str, Path], obj: dict[str, Any], blobs: dict[str, bytes]) -> Path:
    """Write each of ``blobs`` (names relative to ``path``'s directory), then the JSON
    ``path`` last: ``obj`` plus ``"files"`` (sha256 of each blob) and ``"sha256"`` (its own
    seal). Returns ``path``'s directory."""
    path = as_path(path, "path")
    for name, data in blobs.items():
        atomic_write_bytes(path.parent / name, data)
    body = json.loads(json.dumps({**obj, FILES_KEY: {name: sha256_hex(d) for name, d in blobs.items()}}))
    atomic_write_json(path, {**body, SEAL_KEY: _seal(body)})
    return path.parent


def read_sealed(
    path: Union[str, Path],
    fmt: str,
    what: str,
    read_files: bool = True,
    obj: Optional[dict[str, Any]] = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Read the sealed JSON ``path`` (format ``fmt``; ``what`` names it in messages) and,
    with ``read_files``, every file it binds: (object, {name: bytes}), all verified.
    ``obj``: ``path`` already read with :func:`read_format_json` (not read again)."""
    path = as_path(path, "path")
    obj = read_format_json(path, fmt, what) if obj is None else obj
    if SEAL_KEY not in obj:
        raise UserError(f"{path} has no checksum (written by an older snnsim?); save it again with this one")
    if obj[SEAL_KEY] != _seal(obj):
        raise UserError(f"{path} does not match its own checksum: it was edited or damaged after it was saved")
    files = obj.get(FILES_KEY)
    if not isinstance(files, dict):
        raise UserError(f"{path} lists no files")
    blobs: dict[str, bytes] = {}
    for name, digest in files.items() if read_files else ():
        fpath = path.parent / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise UserError(f"{path} lists a file outside its directory: {name!r}")
        regular_file(fpath, "file", missing=f"{fpath} is missing (listed in {path.name})")
        data = fpath.read_bytes()
        if sha256_hex(data) != digest:
            raise UserError(
                f"{fpath} does not match the checksum in {path.name} (truncated, corrupt or from another save)"
            )
        blobs[name] = data
    return obj, blobs


# --------------------------------------------------------------------------- atomic directories
def _staging(target: Path, tag: str) -> Path:
    return target.parent / f".{target.name}.{tag}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover_directory(target: Union[str, Path]) -> None:
    """Bring ``target`` to a committed state after :func:`commit_directory` was killed:
    an incomplete staging directory (``.NAME.tmp``) is deleted, a complete one
    (``.NAME.new``) replaces ``target``, the replaced one (``.NAME.old``) is deleted, and
    stale temporary files beside ``target`` are removed. A no-op when nothing was left."""
    target = as_path(target, "target")
    tmp, new, old = (_staging(target, t) for t in ("tmp", "new", "old"))
    if tmp.exists():
        shutil.rmtree(tmp)
    if new.exists():
        if target.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
        os.replace(new, target)
        _fsync_dir(target.parent)
    elif old.exists() and not target.exists():
        os.replace(old, target)
    if old.exists():
        shutil.rmtree(old)
    remove_stale_temps(target.parent)


def commit_directory(target: Union[str, Path], build: Callable[[Path], None]) -> Path:
    """Replace directory ``target`` by the one ``build(staging)`` writes, as one unit.

    ``build`` fills ``.NAME.tmp``; renaming it to ``.NAME.new`` is the commit (the old
    ``target`` is kept until then); :func:`recover_directory` then swaps it into place.
    A kill at any instant leaves either the old or the new directory (after recovery).
    Single writer: do not commit the same ``target`` from two processes at once."""
    target = as_path(target, "target")
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_directory(target)
    tmp = _staging(target, "tmp")
    os.mkdir(tmp)
    build(tmp)
    _fsync_dir(tmp)
    os.replace(tmp, _staging(target, "new"))
    recover_directory(target)
    return target


def connection_state(network: Network) -> dict[str, torch.Tensor]:
    """Parameters and buffers of every connection's modules, keyed ``"src->tgt/<name>"``, and the
    tensors of stock BindsNET parts (:func:`snnsim.core.stock_spec.stock_state`: ``w``, ``b``,
    Weight features, adaptive thresholds ``theta``)."""
    state = {}
    for (src, tgt), conn in network.connections.items():
        if not isinstance(conn, ModuleConnection):
            continue
        for key, value in conn.layers.state_dict().items():
            state[f"{src}->{tgt}/{key}"] = value.detach().cpu().clone()
    return {**state, **stock_state(network)}


def save_network(
    network: Network,
    directory: Union[str, Path],
    extra: Optional[dict[str, Any]] = None,
    files: Optional[dict[str, bytes]] = None,
) -> Path:
    """Save ``network`` to ``directory`` (created if needed): ``weights.pt`` and any further
    ``files`` ({name: bytes}, e.g. the trainer's state), then ``network.json`` sealing the
    spec, ``extra`` and the files (:func:`write_sealed`). Returns the directory."""
    directory = as_path(directory, "directory")
    spec = network_spec(network)
    validate_spec(spec)  # names, NaN thresholds...: refused before anything is written
    check_finite(network_tensors(network), f"cannot save the network to {directory}")
    directory.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "version": VERSION, "spec": spec, "extra": extra or {}}
    blobs = {WEIGHTS_FILE: tensor_bytes(connection_state(network)), **(files or {})}
    return write_sealed(directory / SPEC_FILE, meta, blobs)


def read_json_object(path: Union[str, Path], what: str) -> dict[str, Any]:
    """The JSON object (dict) in ``path``; a binary, truncated, too deeply nested or
    non-object file is a one-line :class:`UserError` (``what`` names the kind of file)."""
    regular_file(Path(path), f"{what} file")
    size = Path(path).stat().st_size
    if size > MAX_JSON_BYTES:
        raise UserError(
            f"{path} is {size} bytes, more than the {MAX_JSON_BYTES} bytes an snnsim {what} file may have "
            f"(MAX_JSON_BYTES); it is not an snnsim file or was damaged"
        )
    check_allocation(JSON_BYTES_PER_BYTE * size, f"reading {path} ({size} bytes of JSON)")
    try:
        obj = json.loads(Path(path).read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not valid JSON (truncated or corrupt?): {err}") from None
    except RecursionError:
        raise UserError(f"{path} is nested too deeply to be an snnsim {what} file") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path} is not an snnsim {what} file: expected a JSON object, got a {type(obj).__name__}")
    return obj


def read_format_json(path: Path, fmt: str, what: str) -> dict[str, Any]:
    """Read a JSON file whose ``"format"`` must be ``fmt``; clear errors for a corrupt,
    truncated or foreign file (``what`` names the kind of file in the message)."""
    obj = read_json_object(path, what)
    if obj.get("format") != fmt:
        raise UserError(f"{path} is not an snnsim {what} file (format != {fmt!r})")
    return obj


def read_checkpoint(directory: Union[str, Path], read_files: bool = True) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``network.json`` of a checkpoint directory and (``read_files``) every file it binds
    ({name: bytes}), all checksum-verified."""
    directory = as_path(directory, "directory")
    meta_path = directory / SPEC_FILE
    if not meta_path.exists():  # a directory or device there: read_format_json says which
        raise FileNotFoundError(f"no snnsim checkpoint in {directory}: expected {SPEC_FILE} and {WEIGHTS_FILE}")
    meta = read_format_json(meta_path, FORMAT, "network")
    if meta.get("version") != VERSION:
        raise UserError(f"{meta_path} has version {meta.get('version')!r}; this snnsim reads version {VERSION}")
    meta, blobs = read_sealed(meta_path, FORMAT, "network", read_files, obj=meta)
    if WEIGHTS_FILE not in meta[FILES_KEY]:
        raise UserError(f"{meta_path} lists no {WEIGHTS_FILE}")
    return meta, blobs


def read_meta(directory: Union[str, Path]) -> dict[str, Any]:
    """Read and check ``network.json`` of a checkpoint directory (its own checksum only)."""
    return read_checkpoint(directory, read_files=False)[0]


def load_network(directory: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Network:
    """Rebuild the Network saved in ``directory`` and load its weights (checksum-verified)."""
    directory = as_path(directory, "directory")
    check_map_location(map_location)
    return network_from_checkpoint(directory, *read_checkpoint(directory), map_location=map_location)


def check_map_location(map_location: Any) -> None:
    """Refuse (one line naming ``map_location``) what is not a torch device (``"warp"``)."""
    try:
        torch.device(map_location)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"map_location {map_location!r} is not a torch device; use e.g. 'cpu' or 'cuda'") from None


def network_from_checkpoint(
    directory: Path, meta: dict[str, Any], blobs: dict[str, bytes], map_location: Union[str, torch.device] = "cpu"
) -> Network:
    """The Network of a checkpoint already read and verified by :func:`read_checkpoint`
    (``meta``, ``blobs``); ``directory`` names its files in messages."""
    state = load_tensors(blobs[WEIGHTS_FILE], directory / WEIGHTS_FILE, map_location)
    if not isinstance(state, dict):
        raise UserError(f"{directory / WEIGHTS_FILE} does not hold a dict of tensors")
    check_finite(state, str(directory / WEIGHTS_FILE))
    network = build_network(meta["spec"])
    _load_connection_state(network, state, directory / WEIGHTS_FILE)
    return network


def _load_connection_state(network: Network, state: dict[str, Any], path: Path) -> None:
    """Load :func:`connection_state` output into ``network``; weights that do not fit the
    spec (missing, extra, wrong shape, unknown connection) are a one-line :class:`UserError`."""
    used = load_stock_state(network, state, path)
    for (src, tgt), conn in network.connections.items():
        if not isinstance(conn, ModuleConnection):
            continue
        prefix = f"{src}->{tgt}/"
        sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix) and k not in used}
        used.update(prefix + k for k in sub)
        try:
            missing, unexpected = conn.layers.load_state_dict(sub, strict=False)
        except RuntimeError as err:
            why = state_dict_mismatch(err)
            raise UserError(f"{path}: weights for {src}->{tgt} do not fit the spec: {why}") from None
        if missing or unexpected:
            raise UserError(
                f"{path}: weights for {src}->{tgt} do not fit the spec: missing {missing}, unexpected {unexpected}"
            )
    unknown = sorted(set(state) - used)
    if unknown:
        raise UserError(f"{path} holds weights for connections the spec does not have: {unknown[:5]}")

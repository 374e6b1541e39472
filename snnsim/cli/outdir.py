"""The ``--out`` directory of a command: checked, locked, and cleaned up when the command fails.

- :func:`open_out` refuses an empty path, a file, a dangling or looping symbolic link, a name
  longer than the file system allows, a place inside a checkpoint (``network.json`` +
  ``weights.pt`` or ``ann.json`` + ``ann.pt``) and a directory that cannot be written, each
  with one line; then takes an advisory lock (``flock`` on the directory itself: no lock file
  is left behind) so that a second process writing the same ``--out`` is refused with one
  line naming the first one's pid.
- :func:`close_out` (called by :func:`snnsim.cli.main` when the command ends) releases the lock
  and, when the command failed, deletes the files it created at the top of ``--out``, except
  those it declared complete on their own (:func:`keep_on_failure`, e.g. the trainer's
  ``metrics.csv`` beside its last good checkpoint).
- :func:`os_error_line` turns ``ENOSPC``, ``ENAMETOOLONG``, ``EACCES``, ``ELOOP``... into one line.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import Optional

from snnsim.errors import UserError

#: file pairs that make a directory a checkpoint: no command writes into a network checkpoint or
#: below one; ``train-ann`` writes its ANN checkpoint at the top of --out, so only below that
CHECKPOINT_FILES = (("network.json", "weights.pt", 0), ("ann.json", "ann.pt", 1))
_HINTS = {
    errno.ENOSPC: "free space on that disk or choose another --out",
    errno.EDQUOT: "the disk quota is full: free space or choose another --out",
    errno.ENAMETOOLONG: "use shorter file or directory names",
    errno.EACCES: "check its permissions or choose another place",
    errno.EPERM: "check its permissions or choose another place",
    errno.EROFS: "the file system is read-only: choose another place",
    errno.ELOOP: "a symbolic link points to itself (a loop): fix or remove the link",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EISDIR: "it is a directory, not a file",
}


class _Active:
    """The ``--out`` of the running command: its path, lock, files before the run, files to keep."""

    def __init__(self) -> None:
        self.path: Optional[Path] = None
        self.fd: Optional[int] = None
        self.before: set[str] = set()
        self.keep: set[str] = set()


_ACTIVE = _Active()


def os_error_line(err: OSError) -> Optional[str]:
    """One line for an ``OSError`` the user can fix (full disk, name too long, no permission,
    link loop...), or None for other errors (bugs keep their traceback)."""
    hint = _HINTS.get(err.errno or 0)
    if hint is None:
        return None
    out = _ACTIVE.path
    where = f"{err.filename}: " if err.filename else f"writing to --out {out}: " if out is not None else ""
    return f"{where}{err.strerror or os.strerror(err.errno or 0)}; {hint}"


def _name_max(path: Path) -> int:
    """Longest file name the file system of ``path``'s nearest existing ancestor allows."""
    for parent in [path, *path.parents]:
        try:
            return int(os.pathconf(parent, "PC_NAME_MAX"))
        except (OSError, ValueError):
            continue
    return 255


def _check_path(out: Path, option: str) -> None:
    """Refuse names too long, dangling or looping links, files, and places inside a checkpoint."""
    limit = _name_max(out)
    for part in out.parts:
        if len(os.fsencode(part)) > limit:
            raise UserError(
                f"{option} {out}: the name {part[:20]}... is {len(os.fsencode(part))} bytes, more than "
                f"the {limit} this file system allows; choose a shorter name"
            )
    try:
        os.stat(out)
    except FileNotFoundError:
        if os.path.islink(out):
            raise UserError(
                f"{option} {out} is a symbolic link to {os.readlink(out)}, which does not exist; "
                "remove the link or choose another directory"
            ) from None
    except OSError as err:  # a link loop; others (a file in the path...): mkdir below says so
        if err.errno == errno.ELOOP:
            raise UserError(f"{option} {out}: {os_error_line(err)}") from None
    if out.exists() and not out.is_dir():
        raise UserError(f"{option} {out} exists and is not a directory")
    for depth, parent in enumerate([out, *out.absolute().parents]):
        for spec, weights, below in CHECKPOINT_FILES:
            if depth >= below and (parent / spec).is_file() and (parent / weights).exists():
                raise UserError(
                    f"{option} {out} is inside the checkpoint {parent} ({spec}); write the output "
                    "somewhere else: a checkpoint holds only what was saved into it"
                )


def _lock_holder(fd: int) -> str:
    """``pid N`` of the process holding a flock on the file of ``fd`` (from /proc/locks)."""
    ino = os.fstat(fd).st_ino
    try:
        with open("/proc/locks") as fh:
            for line in fh:
                fields = line.split()
                if "FLOCK" in fields and len(fields) > 5 and fields[5].rsplit(":", 1)[-1] == str(ino):
                    return f"pid {fields[4]}"
    except OSError:
        pass
    return "pid unknown"


def _lock(out: Path, option: str) -> Optional[int]:
    """An exclusive ``flock`` on the directory ``out`` (its fd), or None where the file system
    has no locks; a directory locked by another process is a one-line :class:`UserError`."""
    fd = os.open(out, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _lock_holder(fd)
        os.close(fd)
        raise UserError(
            f"{option} {out} is being written by another snnsim process ({holder}); wait for it "
            "to finish or choose another directory"
        ) from None
    except OSError:  # ENOLCK, EINVAL: a file system without flock; run unlocked, as before
        os.close(fd)
        return None
    return fd


def open_out(path: str, option: str = "--out", lock: bool = True) -> Path:
    """Check, create and (``lock``) lock the output directory ``path`` and clean it up after a
    failure (see the module docstring); ``lock=False``: another process owns it (DDP ranks > 0)."""
    import tempfile

    if not str(path).strip():
        raise UserError(f"{option} is empty: give the output directory")
    out = Path(path)
    _check_path(out, option)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise UserError(f"{option} {path}: cannot create or write this directory ({err.strerror or err})") from None
    close_out(failed=False)  # a previous command of this process (tests call main repeatedly)
    if not lock:  # another process (DDP rank 0) owns --out: it locks and cleans up
        return out
    _ACTIVE.path, _ACTIVE.keep = out, set()
    _ACTIVE.fd = _lock(out, option)
    _ACTIVE.before = {p.name for p in out.iterdir()}
    return out


def keep_on_failure(*names: str) -> None:
    """Files at the top of ``--out`` that stay when the command fails (complete on their own)."""
    _ACTIVE.keep.update(names)


def close_out(failed: bool) -> None:
    """Release the lock; after a failure delete the files the command created at the top of
    ``--out`` (not those of :func:`keep_on_failure`, not directories such as a checkpoint)."""
    out, fd = _ACTIVE.path, _ACTIVE.fd
    if out is not None and failed:
        try:
            for entry in out.iterdir():
                if entry.name not in _ACTIVE.before and entry.name not in _ACTIVE.keep and entry.is_file():
                    entry.unlink()
        except OSError:
            pass
    if fd is not None:
        os.close(fd)  # closing releases the flock
    _ACTIVE.path, _ACTIVE.fd, _ACTIVE.before, _ACTIVE.keep = None, None, set(), set()

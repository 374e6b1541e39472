"""The trainer's checkpoint ``OUT/checkpoint``: written as one unit, resumed only whole.

Layout (one directory, committed with :func:`snnsim.core.io.commit_directory`)::

    network.json   sealed (snnsim.core.io.write_sealed): spec, ``extra`` (the rule's settings,
                   the train config, ``epoch``) and the sha256 of weights.pt and trainer.pt
    weights.pt     the network for inference (``rule.export``)
    trainer.pt     optimiser and schedule state, epoch, history (tensors and plain data)
    training/      the network as trained, when ``rule.export`` changes it (e.g. folds
                   BatchNorm): its own sealed network.json with the same ``epoch``

A kill at any instant leaves the previous checkpoint or the new one, never a mix:
:func:`resume_state` first finishes or discards an interrupted commit
(:func:`snnsim.core.io.recover_directory`), then verifies every checksum and that all parts
carry the same epoch, and refuses settings that differ from the checkpoint's.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from bindsnet.network import Network

from snnsim.core.io import (
    SPEC_FILE,
    commit_directory,
    load_tensors,
    network_from_checkpoint,
    read_checkpoint,
    recover_directory,
    save_network,
    tensor_bytes,
)
from snnsim.errors import UserError
from snnsim.training import distributed as ddp
from snnsim.training.rule import LearningRule

TRAINER_FILE = "trainer.pt"
TRAINING_DIR = "training"
# Keys that may differ on resume: how long to train, and results rather than settings.
FREE_ON_RESUME = frozenset({"epochs", "patience", "epoch", "held_out", "windows", "readout_time"})


def checkpoint_meta(rule: LearningRule, cfg: Any, extra: Optional[dict[str, Any]], epoch: int) -> dict[str, Any]:
    """The ``extra`` stored in the checkpoint's network.json (JSON-ready)."""
    return {
        "net_config": rule.config(),
        "train_config": asdict(cfg),
        **rule.encoder_config(),
        **(extra or {}),
        "epoch": epoch,
    }


def write_checkpoint(
    ckpt: Path, rule: LearningRule, network: Network, meta: dict[str, Any], state: dict[str, Any]
) -> None:
    """Commit ``ckpt`` for one epoch as one unit: the exported network with ``trainer.pt``
    (``state``) bound by its sealed network.json, plus ``training/`` when export changes
    the network. The previous checkpoint stays in place until the new one is complete."""
    exported = rule.export(network)
    trainer = tensor_bytes(state)

    def build(staging: Path) -> None:
        if exported is not network:
            save_network(network, staging / TRAINING_DIR, extra=meta)
        save_network(exported, staging, extra=meta, files={TRAINER_FILE: trainer})

    commit_directory(ckpt, build)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def settings_conflicts(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``"key value (checkpoint: old)"`` for each setting of ``current`` (same layout as
    ``saved``, a checkpoint's ``extra``) that differs from the checkpoint's."""
    current, conflicts = _plain(current), []
    for key, value in current.items():
        old = saved.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            pairs = [(k, v, old[k]) for k, v in value.items() if k in old]
        else:
            pairs = [(key, value, old)] if key in saved else []
        conflicts += [f"{k} {v!r} (checkpoint: {o!r})" for k, v, o in pairs if k not in FREE_ON_RESUME and v != o]
    return conflicts


def check_new_run(ckpt: Path, current: dict[str, Any]) -> None:
    """Refuse to start a new run over the checkpoint ``ckpt`` of a run with other settings
    (``current`` as for :func:`check_resume_settings`), or over a damaged one (read only:
    every DDP rank may call it)."""
    refuse_other_run(ckpt / SPEC_FILE, lambda: read_checkpoint(ckpt, read_files=False)[0]["extra"], current)


def refuse_other_run(marker: Path, saved_extra: Callable[[], dict[str, Any]], current: dict[str, Any]) -> None:
    """Where ``marker`` (a checkpoint's spec or config file) exists: UserError if its checkpoint
    cannot be read (``saved_extra()`` raising UserError or OSError) or was written with settings
    that differ from ``current`` (:func:`settings_conflicts`). The one check of :func:`check_new_run`
    and of the ANN trainer's."""
    if not marker.exists():
        return
    ckpt = marker.parent
    try:
        saved = saved_extra()
    except (UserError, OSError) as err:
        raise UserError(
            f"{ckpt} holds a checkpoint that cannot be read ({err}); pass --overwrite to replace "
            "it or choose another --out"
        ) from None
    conflicts = settings_conflicts(saved, current)
    if conflicts:
        raise UserError(
            f"{ckpt.parent} holds a run with other settings: {'; '.join(conflicts)}; pass --overwrite "
            "to replace it, --resume with its settings to continue it, or choose another --out"
        )


def check_resume_settings(saved: dict[str, Any], current: dict[str, Any], ckpt: Path) -> None:
    """Refuse to resume when a setting in ``current`` (same layout as ``saved``, the
    checkpoint's ``extra``) differs from the checkpoint's: one line listing each conflict."""
    conflicts = settings_conflicts(saved, current)
    if conflicts:
        raise UserError(
            f"cannot resume from {ckpt}: options differ from the checkpoint's: {'; '.join(conflicts)}; "
            "resume with the checkpoint's settings or train into a new output directory"
        )


def resume_state(
    ckpt: Optional[Path], current: dict[str, Any], device: str | torch.device = "cpu"
) -> tuple[Network, dict[str, Any]]:
    """(network as trained, trainer state) of ``ckpt``, after recovering an interrupted
    commit; every part checksum-verified and of the same epoch, ``current`` settings
    (see :func:`check_resume_settings`) equal to the checkpoint's."""
    if ckpt is None:
        raise UserError("resume needs the output directory that holds the checkpoint")
    rank, world = ddp.rank_world()
    if rank == 0:
        recover_directory(ckpt)
    if world > 1:
        torch.distributed.barrier()
    if not (ckpt / SPEC_FILE).is_file():
        raise UserError(f"--resume: no checkpoint to resume from in {ckpt}")
    meta, blobs = read_checkpoint(ckpt)
    if TRAINER_FILE not in blobs:
        raise UserError(f"{ckpt} is not a training checkpoint ({SPEC_FILE} binds no {TRAINER_FILE})")
    state = load_tensors(blobs[TRAINER_FILE], ckpt / TRAINER_FILE)
    saved = meta["extra"]
    epoch = saved.get("epoch")
    if not isinstance(state, dict) or state.get("epoch") != epoch or not {"optimizer", "history"} <= set(state):
        raise UserError(f"{ckpt / TRAINER_FILE} does not belong to {ckpt / SPEC_FILE} (epoch {epoch!r})")
    trained = ckpt / TRAINING_DIR if (ckpt / TRAINING_DIR).is_dir() else ckpt
    if trained != ckpt:
        meta, blobs = read_checkpoint(trained)
        if meta["extra"].get("epoch") != epoch:
            raise UserError(f"{trained} is not from epoch {epoch!r} like {ckpt / SPEC_FILE}: not one checkpoint")
    check_resume_settings(saved, current, ckpt)
    return network_from_checkpoint(trained, meta, blobs).to(device), state  # read and verified once

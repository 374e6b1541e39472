"""A checkpoint is committed as one unit and only loaded whole and unmodified.

Fault injection: every filesystem step of a checkpoint write (file creation, write, fsync,
rename/replace, mkdir, unlink, rmdir) is made to fail in turn; for each step k the
directory as a SIGKILL would leave it (snapshot before step k) and as the exception left
it are resumed, and the final weights must be bit-identical to an uninterrupted run with
no temporary files left behind.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import torch

import networks
from snnsim.cli import main
from snnsim.core.io import connection_state, load_network, load_tensors, save_network, write_sealed
from snnsim.data.datasets import load_dataset
from snnsim.errors import UserError
from snnsim.methods.spikebp.rule import SpikeBP
from snnsim.training.ann import ann_fc, load_ann, save_ann
from snnsim.training.trainer import TrainConfig, fit

pytestmark = pytest.mark.usefixtures("one_thread")


class Injected(Exception):
    """The failure injected at step k."""


class FaultInjector:
    """Counts filesystem mutations (files created, written, fsynced, renamed, unlinked;
    directories made and removed); at step ``fail_at`` it calls ``before_fail`` (e.g. a
    snapshot of the tree: what a SIGKILL at that instant leaves) and raises ``Injected``."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        fail_at: Optional[int] = None,
        before_fail: Optional[Callable[[], None]] = None,
    ) -> None:
        self.steps, self.fail_at, self.before_fail, self.armed = 0, fail_at, before_fail, True
        for name in ("replace", "rename", "fsync", "mkdir", "unlink", "rmdir", "open", "fdopen"):
            monkeypatch.setattr(os, name, self._wrap(name, getattr(os, name)))

    def _counts(self, name: str, args: tuple, kwargs: dict) -> bool:
        if not self.armed or any("__pycache__" in str(a) for a in args if isinstance(a, (str, Path))):
            return False
        if name == "open":  # only creating opens mutate; fsync of a directory opens it read-only
            return bool((args[1] if len(args) > 1 else kwargs.get("flags", 0)) & os.O_CREAT)
        return name != "fdopen"

    def step(self) -> None:
        self.steps += 1
        if self.steps == self.fail_at:
            self.armed = False
            if self.before_fail is not None:
                self.before_fail()
            raise Injected(f"step {self.steps}")

    def _wrap(self, name: str, real: Callable) -> Callable:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self._counts(name, args, kwargs):
                self.step()
            result = real(*args, **kwargs)
            return _Writer(result, self) if name == "fdopen" and self.armed else result

        return call


class _Writer:
    """A file object whose ``write`` is a counted step."""

    def __init__(self, fh: Any, injector: FaultInjector) -> None:
        self._fh, self._inj = fh, injector

    def write(self, data: bytes) -> int:
        if self._inj.armed:
            self._inj.step()
        return self._fh.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._fh.close()


@pytest.fixture(scope="module")
def tiny():
    ds = load_dataset("digits", image_size=8)
    return ds.__class__(ds.name, ds.train.subset(40), ds.test.subset(20), ds.num_classes, ds.input_shape)


class _ExportingSpikeBP(SpikeBP):
    """Exports another network object (as STBP-tdBN does when it folds BatchNorm), so the
    checkpoint also holds training/: the largest layout, at the cost of a tiny fc net."""

    def export(self, network):
        return copy.deepcopy(network)


def _rule() -> SpikeBP:
    return _ExportingSpikeBP(timesteps=3, hidden=(6,))


def _train(data, out: Path, epochs: int, resume: bool = False):
    torch.manual_seed(0)
    rule = _rule()
    net = None if resume else rule.build("fc", data.input_shape, data.num_classes)
    return fit(
        rule,
        net,
        data,
        TrainConfig(epochs=epochs, batch_size=20, seed=4, eval_batch_size=20),
        out=out,
        resume=resume,
        progress=False,
        verbose=False,
        extra={"net": "fc"},
    )


def _weights(net) -> dict[str, torch.Tensor]:
    """What a checkpoint saves: the parameters and buffers of every connection."""
    return connection_state(net)


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _stale(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.name.startswith("."))


def _resume_and_check(data, run: Path, epochs: int, reference: dict) -> None:
    if not (run / "checkpoint").exists() and not (run / ".checkpoint.new").exists():
        final, _ = _train(data, run, epochs)  # nothing was committed yet: start again
    else:
        final, _ = _train(data, run, epochs, resume=True)
    _assert_same(_weights(final), reference)
    assert _stale(run) == []
    assert json.loads((run / "checkpoint" / "network.json").read_text())["extra"]["epoch"] == epochs


@pytest.mark.parametrize("first", [True, False], ids=["first-checkpoint", "replacing-a-checkpoint"])
def test_failure_at_every_step_of_the_checkpoint_write(tiny, tmp_path, monkeypatch, first):
    epochs = 1 if first else 2
    reference = _weights(_train(tiny, tmp_path / "full", epochs)[0])
    base = tmp_path / "base"
    base.mkdir()
    if not first:
        _train(tiny, base, 1)

    def attempt(run: Path, **kw: Any) -> FaultInjector:
        shutil.copytree(base, run)
        with monkeypatch.context() as m:
            inj = FaultInjector(m, **kw)
            try:
                _train(tiny, run, epochs, resume=not first)
            except Injected:
                pass
        return inj

    steps = attempt(tmp_path / "count").steps
    _assert_same(_weights(load_network(tmp_path / "count" / "checkpoint")), reference)
    assert steps >= 20, steps  # metrics.csv, training/, weights.pt, trainer.pt, network.json, renames
    for k in range(1, steps + 1):
        killed, raised = tmp_path / f"killed{k}", tmp_path / f"raised{k}"
        snapshot = functools.partial(shutil.copytree, raised, killed)
        inj = attempt(raised, fail_at=k, before_fail=snapshot)
        assert not inj.armed, f"step {k} was never reached"
        for run in (killed, raised):
            _resume_and_check(tiny, run, epochs, reference)
        shutil.rmtree(killed), shutil.rmtree(raised)


def test_edited_spec_is_refused(tmp_path, capsys):
    ckpt = save_network(networks.fc([6, 4, 2]), tmp_path / "c")
    meta = json.loads((ckpt / "network.json").read_text())
    meta["spec"]["layers"][1]["thresh"] = 5.0
    (ckpt / "network.json").write_text(json.dumps(meta, indent=2))
    with pytest.raises(UserError, match="network.json does not match its own checksum"):
        load_network(ckpt)
    assert (
        main(["simulate", "--checkpoint", str(ckpt), "--limit", "5", "--out", str(tmp_path / "o"), "--no-progress"])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "network.json does not match its own checksum" in err


def test_parts_of_different_checkpoints_are_refused(tiny, tmp_path):
    _train(tiny, tmp_path / "a", 1)
    _train(tiny, tmp_path / "b", 2)
    a, b = tmp_path / "a" / "checkpoint", tmp_path / "b" / "checkpoint"
    shutil.copy(a / "trainer.pt", b / "trainer.pt")
    with pytest.raises(UserError, match="trainer.pt does not match the checksum in network.json"):
        _train(tiny, tmp_path / "b", 3, resume=True)
    _train(tiny, tmp_path / "c", 2)
    c = tmp_path / "c" / "checkpoint"
    shutil.rmtree(c / "training")
    shutil.copytree(a / "training", c / "training")  # sealed itself, but from epoch 1
    with pytest.raises(UserError, match="not from epoch 2"):
        _train(tiny, tmp_path / "c", 3, resume=True)


def test_truncated_trainer_state_is_one_line(tiny, tmp_path, capsys):
    args = [
        "train",
        "--method",
        "spikebp",
        "--net",
        "fc",
        "--hidden",
        "6",
        "-T",
        "3",
        "--limit",
        "40",
        "--batch-size",
        "20",
        "--no-progress",
        "--threads",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert main(args + ["--epochs", "1"]) == 0
    state = tmp_path / "checkpoint" / "trainer.pt"
    state.write_bytes(state.read_bytes()[:200])
    capsys.readouterr()
    assert main(args + ["--epochs", "2", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "trainer.pt does not match the checksum" in err


def test_code_in_a_weights_file_is_one_line_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.makedirs, (str(marker),))

    model = ann_fc(input_shape=(1, 8, 8), n_classes=2, hidden=(4,))
    d = save_ann(model, "fc", tmp_path / "ann")
    cfg = json.loads((d / "ann.json").read_text())
    body = {k: v for k, v in cfg.items() if k not in ("files", "sha256")}
    torch.save({"0.weight": Payload()}, d / "evil.pt")
    write_sealed(d / "ann.json", body, {"ann.pt": (d / "evil.pt").read_bytes()})  # consistent checksums
    with pytest.raises(UserError, match=r"ann.pt was refused by torch.load\(weights_only=True\): Trying") as err:
        load_ann(d)
    assert "\n" not in str(err.value) and not marker.exists()
    with pytest.raises(UserError, match="x.pt is not a readable torch file"):
        load_tensors(b"PK\x03\x04 truncated", tmp_path / "x.pt")


def test_ann_checkpoint_with_a_flipped_byte_is_refused(tmp_path, capsys):
    model = ann_fc(input_shape=(1, 8, 8), n_classes=10, hidden=(4,))
    d = save_ann(model, "fc", tmp_path / "ann")
    blob = bytearray((d / "ann.pt").read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (d / "ann.pt").write_bytes(bytes(blob))
    with pytest.raises(UserError, match="ann.pt does not match the checksum in ann.json"):
        load_ann(d)
    assert main(["convert", "--ann", str(d), "--limit", "20", "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ann.pt does not match the checksum in ann.json" in err
    d2 = save_ann(model, "fc", tmp_path / "ann2")
    cfg = json.loads((d2 / "ann.json").read_text())
    cfg["n_classes"] = 3
    (d2 / "ann.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="ann.json does not match its own checksum"):
        load_ann(d2)


def test_resume_refuses_options_that_differ_from_the_checkpoint(tmp_path, capsys):
    args = [
        "train",
        "--method",
        "spikebp",
        "--net",
        "fc",
        "-T",
        "3",
        "--limit",
        "40",
        "--batch-size",
        "20",
        "--no-progress",
        "--threads",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert main(args + ["--hidden", "12", "--epochs", "1"]) == 0
    report = (tmp_path / "report.json").read_bytes()
    capsys.readouterr()
    assert main(args + ["--hidden", "20", "--lr", "0.01", "--epochs", "2", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "hidden [20] (checkpoint: [12])" in err and "lr 0.01 (checkpoint: 0.001)" in err
    assert (tmp_path / "report.json").read_bytes() == report
    assert main(args + ["--hidden", "12", "--epochs", "2", "--resume"]) == 0  # more epochs are fine
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["rule"]["hidden"] == [12] and len(saved["epochs"]) == 2
    meta = json.loads((tmp_path / "checkpoint" / "network.json").read_text())
    assert meta["extra"]["net_config"]["hidden"] == [12] and meta["extra"]["epoch"] == 2

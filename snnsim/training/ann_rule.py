"""The ReLU ANN as a :class:`~snnsim.training.rule.LearningRule`, so that it trains through the
shared trainer (:func:`snnsim.training.trainer.fit`): resume, schedules, early stopping,
``metrics.csv``, TensorBoard and DDP come with it, with the history of every other rule.

The rule is not registered under a ``--method`` name: ``snnsim train-ann`` and
:func:`snnsim.training.ann.train_ann` hand it to ``fit`` themselves. Its model is an
:class:`snnsim.training.ann.ANN` (an ``nn.Sequential``), not a BindsNET network, so it keeps
its own checkpoint: ``OUT/checkpoint`` is an ANN checkpoint (``ann.json`` sealing ``ann.pt``
and the trainer state ``trainer.pt``) that :func:`snnsim.training.ann.load_ann` and
``snnsim convert --ann`` read as they read ``train-ann --out``.

>>> rule = ANNRule(dropout=0.5)
>>> model = rule.build("fc", (1, 28, 28), 10)
>>> model, summary = fit(rule, model, data, TrainConfig(epochs=2, lr=3e-4, momentum=0.5), out=out)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from snnsim.core.io import commit_directory, load_tensors, read_sealed, recover_directory, tensor_bytes
from snnsim.errors import UserError
from snnsim.training import distributed as ddp
from snnsim.training.ann_nets import ANN, ANN_CONFIG, ANN_FORMAT, ANNS, build_ann, load_ann, save_ann
from snnsim.training.checkpoint import TRAINER_FILE, check_resume_settings, refuse_other_run
from snnsim.training.rule import LearningRule

#: the rule's name in reports and checkpoints (``net_config.method``); no ``--method`` of ``snnsim train``
ANN_RULE = "ann"


class ANNRule(LearningRule):
    """Cross-entropy on the class scores ``[B, n_classes]`` of a ReLU ANN fed the images
    ``[B, C, H, W]`` themselves (no time axis: ``timesteps`` is 1 and unused)."""

    name = ANN_RULE
    nets = tuple(ANNS)

    def __init__(
        self, dropout: float = 0.5, hidden: Optional[Sequence[int]] = None, bias: bool = False, output_relu: bool = True
    ) -> None:
        super().__init__(timesteps=1)
        self.dropout = float(dropout)
        self.hidden = None if hidden is None else [int(n) for n in hidden]
        self.bias, self.output_relu = bias, output_relu
        self._gen: Optional[torch.Generator] = None  # the run's shuffling stream (epoch_generators)
        self._device = torch.device("cpu")

    @classmethod
    def for_model(cls, model: nn.Module) -> ANNRule:
        """The rule of an existing model (its options, when it is an :class:`ANN`)."""
        if not isinstance(model, ANN):
            return cls()
        opts = model.options
        return cls(
            dropout=model.dropout,
            hidden=opts.get("hidden"),
            bias=opts.get("bias", False),
            output_relu=opts.get("output_relu", True),
        )

    def build(self, net: str, input_shape: Sequence[int], n_classes: int) -> ANN:  # type: ignore[override]
        """A fresh ANN ``net`` with weights drawn from torch's global generator."""
        self.check_net(net)
        options: dict[str, Any] = {"bias": self.bias, "output_relu": self.output_relu}
        if self.hidden is not None:
            options["hidden"] = self.hidden
        return build_ann(net, input_shape=tuple(input_shape), n_classes=n_classes, dropout=self.dropout, **options)

    def encode(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """The images ``[B, C, H, W]`` unchanged (an ANN has no time axis)."""
        return x

    def outputs(self, network: nn.Module, inputs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Class scores ``[B, n_classes]``."""
        return network(inputs)

    def loss(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, y)

    def take(self, inputs: torch.Tensor, rows: slice) -> torch.Tensor:
        """A rank's share of a batch ``[B, ...]`` (the batch axis comes first here)."""
        return inputs[rows]

    def config(self) -> dict[str, Any]:
        return {
            "method": self.name,
            "dropout": self.dropout,
            "hidden": self.hidden,
            "bias": self.bias,
            "output_relu": self.output_relu,
        }

    # ------------------------------------------------------------------ random streams (see trainer.fit)
    def epoch_generators(
        self, seed: int, epoch: int, device: str | torch.device
    ) -> tuple[torch.Generator, Optional[torch.Generator]]:
        """The shuffling generator of ``epoch`` (no dropout generator: ``nn.Dropout`` draws from
        torch's global one). One stream for the whole run, as snnsim 0.2.0's ``train_ann``: the
        global generator and the shuffling one are seeded with ``seed`` before epoch 1 and run
        on; a resumed run continues them from the checkpoint (:meth:`rng_state`)."""
        if epoch == 1 or self._gen is None:
            if epoch != 1:
                raise UserError(f"cannot resume at epoch {epoch}: the checkpoint holds no random state")
            torch.manual_seed(seed)
            self._gen = torch.Generator().manual_seed(seed)
        self._device = torch.device(device)
        return self._gen, None

    def rng_state(self) -> dict[str, Any]:
        """The random state after a finished epoch: torch's global generator (and the CUDA
        device's, where the model runs) and the shuffling generator."""
        state = {"torch": torch.get_rng_state(), "shuffle": self._gen.get_state() if self._gen is not None else None}
        if self._device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self._device)
        return state

    def load_rng_state(self, state: Optional[dict[str, Any]], device: str | torch.device) -> None:
        """Continue the streams of :meth:`rng_state` (a resumed run)."""
        if not isinstance(state, dict) or state.get("shuffle") is None:
            raise UserError("cannot resume: the checkpoint holds no random state of the ANN's training")
        torch.set_rng_state(state["torch"])
        self._gen = torch.Generator()
        self._gen.set_state(state["shuffle"])
        self._device = torch.device(device)
        if self._device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], self._device)

    # ------------------------------------------------------------------ checkpoint (see trainer.fit)
    def write_checkpoint(self, ckpt: Path, network: nn.Module, meta: dict[str, Any], state: dict[str, Any]) -> None:
        """Commit ``ckpt`` as one unit: the ANN (``ann.json``, ``ann.pt``) with ``trainer.pt``
        (``state``), all sealed by ``ann.json`` whose ``extra`` is ``meta``."""
        trainer = tensor_bytes(state)
        commit_directory(
            ckpt, lambda staging: save_ann(network, directory=staging, extra=meta, files={TRAINER_FILE: trainer})
        )

    def resume_state(
        self, ckpt: Optional[Path], current: dict[str, Any], device: str | torch.device = "cpu"
    ) -> tuple[ANN, dict[str, Any]]:
        """(ANN, trainer state) of ``ckpt`` after recovering an interrupted commit; checksums
        verified and ``current`` settings equal to the checkpoint's."""
        if ckpt is None:
            raise UserError("resume needs the output directory that holds the checkpoint")
        rank, world = ddp.rank_world()
        if rank == 0:
            recover_directory(ckpt)
        if world > 1:
            torch.distributed.barrier()
        if not (ckpt / ANN_CONFIG).is_file():
            raise UserError(f"--resume: no checkpoint to resume from in {ckpt}")
        saved, blobs = read_sealed(ckpt / ANN_CONFIG, ANN_FORMAT, "ANN")
        if TRAINER_FILE not in blobs:
            raise UserError(f"{ckpt} is not a training checkpoint ({ANN_CONFIG} binds no {TRAINER_FILE})")
        state = load_tensors(blobs[TRAINER_FILE], ckpt / TRAINER_FILE)
        extra = saved.get("extra", {})
        if (
            not isinstance(state, dict)
            or state.get("epoch") != extra.get("epoch")
            or not {"optimizer", "history"} <= set(state)
        ):
            raise UserError(f"{ckpt / TRAINER_FILE} does not belong to {ckpt / ANN_CONFIG}")
        check_resume_settings(extra, current, ckpt)
        return load_ann(ckpt, device).to(device), state


def check_new_ann_run(ckpt: Path, current: dict[str, Any]) -> None:
    """Refuse to start a new ANN run over the checkpoint ``ckpt`` of a run with other settings
    (``current``: ``train_config`` and the command's settings, as the checkpoint's ``extra``)."""
    refuse_other_run(
        ckpt / ANN_CONFIG,
        lambda: read_sealed(ckpt / ANN_CONFIG, ANN_FORMAT, "ANN", read_files=False)[0].get("extra", {}),
        current,
    )

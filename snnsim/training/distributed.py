"""Data-parallel training with PyTorch DDP, launched by ``torchrun``.

``torchrun --nproc_per_node 2 -m snnsim train ... --distributed`` starts one process per
rank; each joins the process group (gloo on CPU, nccl on CUDA), wraps the rule's
differentiable read-out in ``DistributedDataParallel`` and trains on its share of every
global batch, so that N processes train exactly what one process trains:

- Samples: all ranks encode the same global batch with the same generator and take every
  ``world``-th sample (:func:`shard`); the union of the ranks' work is the batch.
- Dropout: every rank draws the masks of the whole global batch from the same generator
  and keeps its own rows (:func:`snnsim.core.ops.dropout_masks`), so each sample gets the mask
  it gets in one process, whichever rank trains it.
- Loss: each rank's mean loss is scaled by :func:`loss_scale` so that DDP's average of
  the rank gradients weights every sample by ``1 / global batch`` (an uneven last batch,
  e.g. 13 samples split 7/6, counts as one batch of 13); the epoch's metrics are summed
  over the ranks (:func:`all_sum`).
- Timeouts: joining the group and every collective give up after ``--dist-timeout``
  seconds (``$SNNSIM_DIST_TIMEOUT``, default :data:`DEFAULT_TIMEOUT_S`) with a
  :class:`RankTimeout` that says what to do, instead of waiting for a hung rank for ever.

Not synchronised: BatchNorm/tdBN batch statistics (each rank normalises with its shard's).
Only rank 0 writes checkpoints, metrics and reports.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

import torch
import torch.distributed as dist
from bindsnet.network import Network
from torch import nn

from snnsim.errors import UserError

if TYPE_CHECKING:  # the rules import this module (TTFS: all_min)
    from snnsim.training.rule import LearningRule

ENV_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT_ENV = "SNNSIM_DIST_TIMEOUT"
#: seconds a rank waits for the others (group start, each collective) by default
DEFAULT_TIMEOUT_S = 300.0
_timeout_s = DEFAULT_TIMEOUT_S


class RankTimeout(UserError):
    """Another rank did not join or answer within the timeout (one line: what to do)."""


def resolve_timeout(seconds: Optional[float] = None) -> float:
    """``seconds``, else ``$SNNSIM_DIST_TIMEOUT``, else :data:`DEFAULT_TIMEOUT_S`; must be > 0."""
    source = "--dist-timeout"
    if seconds is None and os.environ.get(TIMEOUT_ENV):
        source, text = f"${TIMEOUT_ENV}", os.environ[TIMEOUT_ENV]
        try:
            seconds = float(text)
        except ValueError:
            raise UserError(f"{source} must be a number of seconds, got {text!r}") from None
    value = DEFAULT_TIMEOUT_S if seconds is None else float(seconds)
    if not (math.isfinite(value) and value > 0):
        raise UserError(f"{source} must be a number of seconds > 0, got {seconds!r}")
    return value


def init(device: str | torch.device = "cpu", timeout: Optional[float] = None) -> tuple[int, int]:
    """Join the process group set up by torchrun; returns (rank, world size).

    ``timeout`` (seconds, see :func:`resolve_timeout`) bounds the wait for the other ranks
    here and in every later collective; a rank that never joins is a :class:`RankTimeout`."""
    global _timeout_s
    missing = [v for v in ENV_VARS if v not in os.environ]
    if missing:
        raise UserError(
            "--distributed must run under torchrun (missing environment "
            f"{', '.join(missing)}); e.g. torchrun --nproc_per_node 2 -m snnsim train ... --distributed"
        )
    _timeout_s = resolve_timeout(timeout)
    if not dist.is_initialized():
        backend = "nccl" if str(device).startswith("cuda") else "gloo"
        try:
            dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=_timeout_s))
        except (dist.DistError, RuntimeError) as err:
            raise _join_error(err) from None
    return dist.get_rank(), dist.get_world_size()


def _join_error(err: Exception) -> Exception:
    if "timed out" not in str(err).lower():
        return err
    joined = re.search(r"(\d+)/(\d+) clients joined", str(err))
    who = f"only {joined[1]} of {joined[2]} ranks" if joined else "not every rank"
    return RankTimeout(
        f"{who} joined the process group within {_timeout_s:g} s (--dist-timeout, ${TIMEOUT_ENV}): start all "
        f"WORLD_SIZE={os.environ.get('WORLD_SIZE')} ranks (torchrun --nproc_per_node N) with the same "
        f"MASTER_ADDR:MASTER_PORT ({os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}), "
        "or raise the timeout if they start slowly"
    )


@contextmanager
def collective_timeouts() -> Iterator[None]:
    """Turn a collective that timed out or lost its peer (a rank hung or died) into a
    one-line :class:`RankTimeout`; nothing to do when not distributed."""
    try:
        yield
    except RuntimeError as err:  # gloo raises plain RuntimeErrors, nccl DistBackendError
        text = str(err).lower()
        if not dist.is_initialized() or not (
            "timed out" in text or "connection closed" in text or "connection reset" in text
        ):
            raise
        what = (
            f"did not answer within {_timeout_s:g} s (--dist-timeout, ${TIMEOUT_ENV})"
            if "timed out" in text
            else "closed its connection (it exited or crashed)"
        )
        raise RankTimeout(
            f"rank {dist.get_rank()}: another rank {what}: see the other ranks' output for the one that hung "
            "or failed; raise the timeout if a rank legitimately works longer between collectives"
        ) from None


def rank_world() -> tuple[int, int]:
    """(rank, world size), (0, 1) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class RuleModule(nn.Module):
    """``forward(inputs) = rule.outputs(network, inputs)`` as an nn.Module for DDP."""

    def __init__(self, rule: LearningRule, network: Network) -> None:
        super().__init__()
        self.rule = rule
        self.network = network

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.rule.outputs(self.network, inputs)


def wrap(rule: LearningRule, network: Network) -> Optional[nn.Module]:
    """A DDP module over the rule's read-out, or None when not distributed.

    Parameters are broadcast from rank 0 on construction; neuron state buffers are
    not synchronised (``broadcast_buffers=False``): each rank's BatchNorm running
    statistics follow its own shard, and rank 0's are saved.
    """
    if rank_world()[1] == 1:
        return None
    with warnings.catch_warnings():  # torch 2.14 deprecates broadcast_buffers, but its successor
        warnings.filterwarnings("ignore", "`broadcast_buffers` is deprecated", FutureWarning)  # syncs at init
        return nn.parallel.DistributedDataParallel(RuleModule(rule, network), broadcast_buffers=False)


def shard(rule: LearningRule, inputs: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's part of a global batch: every ``world``-th sample, taken by
    :meth:`LearningRule.take` (inputs ``[T, B, ...]``, labels ``[B]``)."""
    rank, world = rank_world()
    if world == 1:
        return inputs, y
    if y.shape[0] < world:
        raise ValueError(f"a batch of {y.shape[0]} samples cannot be shared by {world} ranks")
    rows = slice(rank, None, world)
    return rule.take(inputs, rows), y[rows]


def check_batches(n_samples: int, batch_size: int) -> None:
    """Refuse batch sizes that leave a rank without samples (any split is trained exactly)."""
    world = rank_world()[1]
    smallest = min(batch_size, n_samples % batch_size or batch_size, n_samples)
    if world > 1 and smallest < world:
        raise UserError(
            f"a batch of {smallest} samples ({n_samples} samples in batches of {batch_size}) "
            f"cannot be shared by {world} ranks; choose another --batch-size"
        )


def loss_scale(local: int, total: int) -> float:
    """Factor for a rank's mean loss over ``local`` of the ``total`` samples of a global
    batch: DDP averages the ranks' gradients (sum / world), so scaling by
    ``local * world / total`` gives every sample the weight ``1 / total``; 1 in one process."""
    return local * rank_world()[1] / total


def all_min(values: Sequence[float]) -> list[float]:
    """The smallest of each of ``values`` over the ranks (float64); unchanged in one process."""
    return _all_reduce(values, dist.ReduceOp.MIN)


def all_sum(values: Sequence[float]) -> list[float]:
    """``values`` summed over the ranks (float64); unchanged in one process."""
    return _all_reduce(values, dist.ReduceOp.SUM)


def _all_reduce(values: Sequence[float], op: dist.ReduceOp) -> list[float]:
    if rank_world()[1] == 1:
        return [float(v) for v in values]
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"  # nccl reduces CUDA tensors only
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=op)
    return t.tolist()

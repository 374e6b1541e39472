"""Data-parallel training with PyTorch DDP, launched by ``torchrun``.

``torchrun --nproc_per_node 2 -m snnsim train ... --distributed`` starts one process per
rank; each joins the process group (gloo on CPU, nccl on CUDA), wraps the rule's
differentiable read-out in ``DistributedDataParallel`` (gradients are averaged across
ranks during ``backward``) and trains on its share of every global batch: all ranks
encode the same global batch with the same generator and take every ``world``-th
sample, so the union of the ranks' work is exactly the single-process batch.
Only rank 0 writes checkpoints, metrics and reports.
"""
from __future__ import annotations

import os
from typing import Optional

import torch
import torch.distributed as dist
from bindsnet.network import Network
from torch import nn

from .learning.base import LearningRule

ENV_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def init(device: str | torch.device = "cpu") -> tuple[int, int]:
    """Join the process group set up by torchrun; returns (rank, world size)."""
    missing = [v for v in ENV_VARS if v not in os.environ]
    if missing:
        raise RuntimeError(
            "--distributed must run under torchrun (missing environment "
            f"{', '.join(missing)}); e.g. torchrun --nproc_per_node 2 -m snnsim train ... --distributed"
        )
    if not dist.is_initialized():
        backend = "nccl" if str(device).startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


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
    return nn.parallel.DistributedDataParallel(RuleModule(rule, network), broadcast_buffers=False)


def shard(inputs: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's part of a global batch: every ``world``-th sample. inputs ``[T, B, ...]``."""
    rank, world = rank_world()
    if world == 1:
        return inputs, y
    if y.shape[0] < world:
        raise ValueError(f"a batch of {y.shape[0]} samples cannot be shared by {world} ranks")
    return inputs[:, rank::world], y[rank::world]

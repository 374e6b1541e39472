"""Event frames: binned event-camera or spike data (N-MNIST, SHD) passed through as input."""

from __future__ import annotations

import torch

from snnsim.errors import UserError, UserTypeError


def events(x: torch.Tensor, timesteps: int | None = None) -> torch.Tensor:
    """Binned event frames, sample-major as a split's batches hold them, made time-major.

    ``x [B, T', *sensor]`` (bool spikes or float event counts, e.g. the batches of
    :class:`snnsim.data.event_frames.EventFrames`) -> ``[T, B, *sensor]`` of the same dtype,
    the first ``T = timesteps`` bins (all ``T'`` when None). Nothing is drawn or rescaled:
    the recorded events are the spikes. Unlike the image encoders, the input already has a
    time axis, so the output is not ``[T, *x.shape]``.
    """
    if not isinstance(x, torch.Tensor):
        raise UserTypeError(f"events expects binned frames as a tensor [B, T, ...], got {type(x).__name__}")
    if x.dim() < 3:
        raise UserError(f"events expects binned frames [B, T, *sensor], got shape {tuple(x.shape)}")
    steps = x.shape[1] if timesteps is None else int(timesteps)
    if not 1 <= steps <= x.shape[1]:
        raise UserError(
            f"events: timesteps must be in [1, {x.shape[1]}] (the bins of the frames "
            f"[B, T, ...] of shape {tuple(x.shape)}), got {timesteps}"
        )
    return x[:, :steps].transpose(0, 1).contiguous()

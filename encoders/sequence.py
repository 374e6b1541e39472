"""Row-sequence coding (sequential MNIST): one image row per time step, as input current."""

from __future__ import annotations

import torch

from snnsim.errors import UserError, UserTypeError


def rows(x: torch.Tensor, timesteps: int | None = None) -> torch.Tensor:
    """Images as sequences of rows: ``x [B, C, H, W]`` -> float32 ``[H, B, C * W]``.

    Step ``t`` holds row ``t`` of every image (all channels of the row side by side), as the
    intensities themselves: the input current of a row-wise (recurrent) network. Unlike the
    other encoders the output is not ``[T, *x.shape]``: ``T`` is the image height, and
    ``timesteps``, when given, must equal it.
    """
    if not isinstance(x, torch.Tensor):
        raise UserTypeError(f"rows expects images as a tensor [B, C, H, W], got {type(x).__name__}")
    if x.dim() != 4:
        raise UserError(f"rows expects images [B, C, H, W], got shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    if timesteps is not None and int(timesteps) != h:
        raise UserError(f"rows runs one step per image row: timesteps must be the image height {h}, got {timesteps}")
    return x.permute(2, 0, 1, 3).reshape(h, b, c * w).to(torch.float32)

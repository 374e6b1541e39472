"""Direct coding: the analog input injected as a constant current."""

from __future__ import annotations

import torch

from encoders.validation import check_input, check_scalar, check_timesteps
from snnsim.errors import UserError

__all__ = ["constant_current"]


def constant_current(x: torch.Tensor, timesteps: int, *, scale: float = 1.0) -> torch.Tensor:
    """Repeat ``scale * x`` at every step (direct / constant-current coding).

    Args:
        x: analog input, shape ``[B, ...]``, floating point, finite (any range).
        timesteps: number of steps ``T`` (int >= 1).
        scale: multiplier applied to the input (input current units per unit x).

    Returns:
        Contiguous float32 tensor of shape ``[T, *x.shape]`` on ``x.device``;
        it owns its memory, so callers may modify it in place.

    Raises:
        ValueError: if ``scale * x`` overflows float32.
    """
    check_input(x, unit_interval=False)
    steps = check_timesteps(timesteps)
    factor = check_scalar(scale, "scale")
    current = x.to(torch.float32) * factor  # always a new tensor
    if current.numel() and not bool(torch.isfinite(current).all()):
        raise UserError(
            f"scale * x is not finite in float32 (scale={factor:g}, "
            f"max |x|={float(x.abs().max()):g}); use a smaller scale"
        )
    return current.unsqueeze(0).expand(steps, *x.shape).clone(memory_format=torch.contiguous_format)

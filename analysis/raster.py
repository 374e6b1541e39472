"""Spike raster of one sample: neurons by time, one panel per layer."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def raster_points(spikes: torch.Tensor, sample: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(times, neuron indices) of the spikes of one sample; ``spikes``: bool ``[T, B, ...]``."""
    s = spikes[:, sample].reshape(spikes.shape[0], -1)
    t, n = s.nonzero(as_tuple=True)
    return t, n


def plot_raster(
    spikes: dict[str, torch.Tensor],
    sample: int = 0,
    layers: Optional[Sequence[str]] = None,
    dt: float = 1.0,
    title: Optional[str] = None,
    path: Optional[Union[str, Path]] = None,
) -> Figure:
    """Raster of ``sample`` for ``layers`` (default all), layers stacked top to bottom.

    ``spikes``: layer name -> bool ``[T, B, ...]``. Saves PNG/SVG to ``path`` if given.
    """
    names = list(layers) if layers is not None else list(spikes)
    if not names:
        raise ValueError("no layers to plot")
    for name in names:
        if name not in spikes:
            raise ValueError(f"layer {name!r} was not recorded; recorded: {list(spikes)}")
    heights = [max(1.0, min(3.0, spikes[n][0, 0].numel() / 400)) for n in names]
    fig, axes = plt.subplots(len(names), 1, sharex=True, figsize=(8, 1.2 + 1.3 * sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    t_max = max(spikes[n].shape[0] for n in names)
    for ax, name in zip(axes[:, 0], names):
        t, n = raster_points(spikes[name], sample)
        ax.scatter((t.float() * dt).numpy(), n.numpy(), s=1.5, marker="|", color="black", linewidths=0.6)
        size = spikes[name][0, 0].numel()
        ax.set_ylim(-0.5, size - 0.5)
        ax.set_ylabel(f"{name}\n({size})", rotation=0, ha="right", va="center", fontsize=8)
        ax.set_xlim(-0.5 * dt, (t_max - 0.5) * dt)
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("time (ms)" if dt != 1.0 else "time step")
    fig.suptitle(title or f"spike raster, sample {sample}")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig

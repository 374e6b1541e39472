"""Figures of an STDP run: the learned input weights as a grid of receptive fields."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import torch
from matplotlib.figure import Figure

from snnsim.methods.stdp.training import receptive_fields


def weight_mosaic(weights: torch.Tensor, shape: Sequence[int], pad: int = 1) -> torch.Tensor:
    """``[n_inputs, n]`` weights -> one ``[rows * (H + pad), cols * (W + pad)]`` image, neuron k at
    row ``k // cols``, column ``k % cols`` (cols = ceil(sqrt(n))); padding is NaN (drawn blank)."""
    fields = receptive_fields(weights.detach().float().cpu(), shape)
    n, h, w = fields.shape
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    out = torch.full((rows * (h + pad), cols * (w + pad)), float("nan"))
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = fields[k]
    return out


def plot_weights(weights: torch.Tensor, shape: Sequence[int], title: Optional[str] = None) -> Figure:
    """The receptive field of every excitatory neuron, in one grid (``weights`` ``[n_inputs, n]``)."""
    mosaic = weight_mosaic(weights, shape)
    fig = Figure(figsize=(7, 7 * mosaic.shape[0] / max(mosaic.shape[1], 1) + 0.6))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(mosaic.numpy(), cmap="hot_r", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"input weights of {weights.shape[1]} excitatory neurons")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def weights_heatmap(run_dir: Path) -> tuple:
    """The receptive fields of the STDP run in ``run_dir`` as a plotly heatmap (for the HTML viewer);
    ``()`` when the run has no STDP checkpoint."""
    import plotly.graph_objects as go

    from snnsim.methods.stdp.training import CKPT_NAME, load_checkpoint

    path = Path(run_dir) / "checkpoint"
    if not (path / CKPT_NAME).is_file():
        return ()
    ckpt = load_checkpoint(path)
    shape = ckpt["meta"].get("input_shape")
    if not shape:
        return ()
    mosaic = weight_mosaic(ckpt["weights"], shape)
    n = ckpt["weights"].shape[1]
    fig = go.Figure(
        go.Heatmap(
            z=mosaic.numpy()[::-1].tolist(),
            colorscale="Hot",
            reversescale=True,
            hovertemplate="w=%{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": f"input weights of {n} excitatory neurons ({ckpt['state']['images_seen']} images)", "x": 0.5},
        height=700,
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
    )
    return (fig,)

"""Small shared helpers for the tests."""
from __future__ import annotations

import torch
from bindsnet.network import Network


def scale_weights(net: Network, factor: float, seed: int = 0) -> Network:
    """Re-draw every weight uniformly in [-factor, factor] (deterministic); returns ``net``."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for conn in net.connections.values():
            for m in conn.layers:
                for p in m.parameters():
                    p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * factor)
    return net


def poisson_input(shape: tuple[int, ...], p: float = 0.2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) < p

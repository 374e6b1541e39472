"""A small VGG-style ReLU ANN ("vgg"), the ReLU twin of the TTFS "vgg" net.

``28x28-16c3-16c3-P2-32c3-32c3-P2-128-10``: blocks of two 3x3 convolutions (padding 1,
ReLU) with 2x2 max-pooling after each block, then dense layers, with dropout before
every dense layer as the other conversion nets. :func:`snnsim.methods.ttfs.from_relu`
maps it exactly onto a TTFS network (max-pooling becomes the earliest spike,
``ttfs_maxpool2d``); the layout equals :data:`snnsim.methods.ttfs.VGG_FEATURES` /
``VGG_HIDDEN`` (a test keeps the two in step; the training layer cannot import a method).

>>> relu = ann_vgg(bias=True, output_relu=False)   # for snnsim train --method ttfs --from-relu
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence, Union

from torch import nn

from snnsim.errors import UserError

if TYPE_CHECKING:
    from snnsim.training.ann import ANN

#: Conv channels, or "M" for a 2x2 max-pool (as the TTFS builder's ``VGG_FEATURES``).
FEATURES: tuple[Union[int, str], ...] = (16, 16, "M", 32, 32, "M")
HIDDEN: tuple[int, ...] = (128,)


def _features(c: int, h: int, w: int, bias: bool) -> tuple[list[nn.Module], int]:
    """The conv/pool part for ``[B, c, h, w]`` inputs; returns (layers, flattened size)."""
    layers: list[nn.Module] = []
    for f in FEATURES:
        if f == "M":
            if min(h, w) < 2:
                raise UserError(f"input_shape {(c, h, w)} is too small for the vgg network")
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        else:
            layers += [nn.Conv2d(c, int(f), 3, padding=1, bias=bias), nn.ReLU()]
            c = int(f)
    return layers, c * h * w


def ann_vgg(
    input_shape: Sequence[int] = (1, 28, 28),
    n_classes: int = 10,
    dropout: float = 0.5,
    *,
    bias: bool = False,
    output_relu: bool = True,
) -> ANN:
    """VGG-style net (module docstring): ``[B, C, H, W] -> [B, n_classes]``; ``bias`` and
    ``output_relu`` as in :func:`snnsim.training.ann.ann_fc` (defaults: Diehl et al.'s
    conventions, no biases, ReLU on the output, weights ~ U[-0.1, 0.1])."""
    from snnsim.training.ann import ANN, _check_args, _check_flags, _head, init_uniform  # ann.py imports us

    bias, output_relu = _check_flags(bias, output_relu)
    shape = _check_args(input_shape, n_classes, dropout, conv=True)
    layers, n_in = _features(*shape, bias=bias)
    layers.append(nn.Flatten())
    for n in HIDDEN:
        layers += [nn.Dropout(dropout), nn.Linear(n_in, n, bias=bias), nn.ReLU()]
        n_in = n
    layers += [nn.Dropout(dropout), *_head(n_in, n_classes, bias, output_relu)]
    return init_uniform(
        ANN(
            *layers,
            net="vgg",
            input_shape=shape,
            n_classes=n_classes,
            dropout=dropout,
            options={"bias": bias, "output_relu": output_relu},
        )
    )

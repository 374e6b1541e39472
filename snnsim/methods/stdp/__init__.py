"""Unsupervised STDP: Diehl & Cook (2015) with BindsNET's ``DiehlAndCook2015`` in the fast engine.

:mod:`.training` (configuration, network, training with checkpoints and resume, labelling and
evaluation), :mod:`.plots` (receptive fields); its command line is :mod:`snnsim.cli.stdp`
(``snnsim train --method stdp``).
"""

from snnsim.methods.stdp.training import (
    STDPConfig,
    build,
    encode,
    image_seed,
    input_weights,
    label_and_evaluate,
    load_checkpoint,
    present_image,
    train,
)

__all__ = [
    "STDPConfig",
    "build",
    "encode",
    "image_seed",
    "input_weights",
    "label_and_evaluate",
    "load_checkpoint",
    "present_image",
    "train",
]

"""Training: the learning-rule interface, the trainer, checkpoints, DDP and the ReLU ANN.

- :mod:`.rule`: :class:`LearningRule`, the registry :data:`RULES`, :func:`get_rule`.
- :mod:`.trainer`: ``fit`` (epochs, evaluation, checkpoints, resume).
- :mod:`.checkpoint`: sealed checkpoints; :mod:`.distributed`: DDP helpers.
- :mod:`.ann`: the ReLU ANNs that conversion and TTFS start from.

The rules themselves live with their methods (``snnsim.methods.<name>.rule``) and are
imported when first named (:data:`snnsim.methods.PROVIDERS`).
"""

from snnsim.training.rule import RULES, LearningRule, get_rule, register_rule

__all__ = ["LearningRule", "RULES", "get_rule", "register_rule"]

#: names of the 0.1 module ``snnsim.training`` (now :mod:`snnsim.training.trainer`)
_TRAINER = ("TrainConfig", "dropout_seed", "fit", "held_out_accuracy", "make_optimizer", "make_schedule", "trainable")


def __getattr__(name: str) -> object:
    """``from snnsim.training import fit`` (0.1) keeps working for one release, with a warning."""
    if name in _TRAINER:
        import warnings

        from snnsim.training import trainer

        warnings.warn(
            f"snnsim.training.{name} moved to snnsim.training.trainer.{name} in snnsim 0.2; the old "
            "path will be removed in the next release",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(trainer, name)
    raise AttributeError(f"module 'snnsim.training' has no attribute {name!r}")

"""The unnormalised baseline at its best parameters (the comparison of Diehl et al. 2015).

Diehl et al. compare normalised nets at default parameters (threshold 1, 1000 Hz input)
with the *unnormalised* net at the global firing threshold and input rate that a grid
search found best. :func:`tune_unnormalised` runs that search: it converts the ANN with
``norm="none"`` and each threshold, simulates every (threshold, max rate) pair on a split
and picks the highest accuracy at the last step; ties go to the pair that reaches 90% of
its accuracy first (the choice most favourable to the baseline's speed).

A global threshold ``theta`` is the same as dividing every layer's weights by ``theta``
(spikes stay 0/1), so layer l of the SNN represents ``a_l / theta^l`` of the ANN's
activations (times the input rate): one knob for all layers, where data-based
normalisation sets one factor per layer.

>>> search = tune_unnormalised(ann, data.test, 200, reset="zero")
>>> search.best.threshold, search.best.max_rate, search.best.accuracy
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch
from torch import nn

import encoders
from snnsim.data.datasets import Split
from snnsim.engine.evaluate import Encoder, Evaluation, evaluate, first_step_reaching
from snnsim.errors import UserError
from snnsim.methods.conversion.convert import Conversion, convert

#: the grid of the default search: global thresholds x Poisson rates (Hz at dt = 1 ms)
from snnsim.names import DEFAULT_MAX_RATES, DEFAULT_THRESHOLDS  # noqa: E402  (light for the CLI)
from snnsim.progress import progress_bar


@dataclass
class GridPoint:
    """One (threshold, max rate) pair of the search and what it gave on the split."""

    threshold: float
    max_rate: Optional[float]  # None: the encoder has no rate (e.g. constant current)
    accuracy: float
    steps_to_90pct: Optional[int]  # first step reaching 90% of ``accuracy``
    evaluation: Evaluation = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "max_rate": self.max_rate,
            "accuracy": self.accuracy,
            "steps_to_90pct": self.steps_to_90pct,
        }


@dataclass
class BaselineSearch:
    """The result of :func:`tune_unnormalised`: every grid point and the chosen one
    (``best``, with its :class:`Conversion` in ``conversion``)."""

    points: list[GridPoint]
    best: GridPoint
    conversion: Conversion


def poisson_for_rate(seed: int = 0, device: str | torch.device = "cpu") -> Callable[[Optional[float]], Encoder]:
    """Encoder factory of the search: Poisson input at ``max_rate`` Hz, generator seeded
    by ``seed`` (a fresh generator per grid point, so every point sees the same draws)."""

    def make(max_rate: Optional[float]) -> Encoder:
        gen = torch.Generator(device=device).manual_seed(seed)
        return encoders.get_encoder("poisson", max_rate=1000.0 if max_rate is None else max_rate, generator=gen)

    return make


def _check_grid(values: Sequence[Any], name: str, allow_none: bool = False) -> list[Any]:
    out = list(values)
    if not out:
        raise UserError(f"{name} must not be empty")
    for v in out:
        if v is None and allow_none:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v > 0 and v < float("inf")):
            raise UserError(f"{name} must be finite numbers > 0, got {v!r}")
    return [v if v is None else float(v) for v in out]


def tune_unnormalised(
    ann: nn.Module,
    split: Split,
    timesteps: int,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    max_rates: Sequence[Optional[float]] = DEFAULT_MAX_RATES,
    make_encoder: Optional[Callable[[Optional[float]], Encoder]] = None,
    reset: str = "zero",
    output: Optional[str] = None,
    input_shape: Optional[Sequence[int]] = None,
    engine: str = "fast",
    batch_size: int = 100,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: bool = True,
) -> BaselineSearch:
    """Grid-search the global threshold and input rate of the unnormalised SNN of ``ann``.

    Args:
        split: the samples the pairs are scored on (Diehl et al. scored on the test set;
            scoring on held-out data favours the baseline, never the normalised nets).
        timesteps: simulation steps; accuracy is taken at the last one.
        thresholds: global firing thresholds to try (every IF layer gets the same one).
        max_rates: input rates to try, passed to ``make_encoder`` (default: Poisson at that
            rate, seeded by ``seed``); ``(None,)`` for an encoder without a rate.
        reset, output, input_shape: as for :func:`convert`.
    Returns a :class:`BaselineSearch`; ``points`` in grid order (thresholds outer).
    """
    ths = _check_grid(thresholds, "thresholds")
    rates = _check_grid(max_rates, "max_rates", allow_none=True)
    if not isinstance(timesteps, int) or timesteps < 1:
        raise UserError(f"timesteps must be an int >= 1, got {timesteps!r}")
    make = make_encoder or poisson_for_rate(seed, device)
    steps = list(range(1, timesteps + 1))
    points: list[GridPoint] = []
    bar = progress_bar(len(ths) * len(rates), "tune unnormalised baseline", "pair", progress, leave=True)
    for theta in ths:
        conv = convert(ann, norm="none", reset=reset, output=output, input_shape=input_shape, threshold=theta)
        for rate in rates:
            res = evaluate(
                conv.network,
                split,
                make(rate),
                timesteps,
                engine=engine,
                batch_size=batch_size,
                readout=conv.readout,
                steps=steps,
                device=device,
                progress=False,
            )
            conv.network.to("cpu")
            points.append(
                GridPoint(theta, rate, res.accuracy, first_step_reaching(res.accuracy_vs_time, 0.9 * res.accuracy), res)
            )
            bar.update(1)
            bar.set_postfix(threshold=theta, rate=rate, acc=f"{res.accuracy:.4f}")
    bar.close()

    def rank(p: GridPoint) -> tuple[float, int]:
        return p.accuracy, -(p.steps_to_90pct or timesteps + 1)

    best = max(points, key=rank)  # first of equals: lower threshold, then the grid's rate order
    conv = convert(ann, norm="none", reset=reset, output=output, input_shape=input_shape, threshold=best.threshold)
    return BaselineSearch(points=points, best=best, conversion=conv)

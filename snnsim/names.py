"""Names of snnsim's registries and a few defaults, importable without torch or BindsNET.

The command-line parsers take their ``choices`` and defaults from here, so that
``snnsim --help``, ``snnsim CMD --help`` and argument errors stay fast. The names of rules,
encoders, networks and ANNs are derived from their one declaration, :mod:`snnsim.plugins`
(with third-party entry points); the registries that map names to functions
(``snnsim.training.ann.ANNS``, ``networks.SPECS``, ``encoders.ENCODERS``, ``snnsim.training.RULES``)
are checked against these names by ``tests/cli/test_startup.py``.
"""

from __future__ import annotations

from snnsim import plugins

#: Datasets of :func:`snnsim.data.datasets.load_dataset`.
DATASETS: tuple[str, ...] = ("digits", "mnist10k", "mnist", "fashion-mnist", "cifar10")
#: Event datasets of :func:`snnsim.data.event_frames.load_event_dataset` (``train``/``simulate``, encoder ``events``).
EVENT_DATASETS: tuple[str, ...] = ("nmnist", "shd")
#: Simulation engines of :func:`snnsim.engine.simulate`.
ENGINES: tuple[str, ...] = ("fast", "bindsnet")
#: Optimisers and learning-rate schedules of :class:`snnsim.training.trainer.TrainConfig`.
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
SCHEDULES: tuple[str, ...] = ("none", "cosine", "step")
#: Normalisations of :func:`snnsim.methods.conversion.convert`.
NORMS: tuple[str, ...] = ("none", "model", "data", "percentile")
#: Grid of the tuned unnormalised conversion baseline (:mod:`snnsim.methods.conversion.baseline`).
DEFAULT_THRESHOLDS: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
DEFAULT_MAX_RATES: tuple[float, ...] = (200.0, 500.0, 1000.0)
#: Adam learning rate of :func:`snnsim.training.ann.train_ann` (``train-ann``, ``convert --net``). 1e-3 killed
#: every output ReLU of the FC net on digits: Adam moves each weight by about lr per step, the
#: output layer sums 1200 positive activations, so each step shifted all 10 outputs by ~2 and
#: cross-entropy drove them below 0 within 2 steps, where the ReLU passes no gradient (7.78%).
ANN_LR: float = 3e-4
#: Largest learning rate accepted (``--lr``, ``TrainConfig.lr``, ``train_ann(lr=)``): 1e300 overflowed
#: inside Adam's update (a RuntimeError traceback), and 1e30 trained silently to NaN weights.
MAX_LR: float = 100.0
#: Random seeds are 0 <= seed < MAX_SEED (``--seed``, ``TrainConfig.seed``, ``train_ann(seed=)``):
#: torch refuses seeds past 64 bits, and training derives per-epoch seeds as seed * 1000 + epoch.
MAX_SEED: int = 2**32
#: Layers above this many neurons are drawn for an evenly spaced subset (:mod:`analysis.raster`).
MAX_NEURONS: int = 2000

#: Input codings of ``snnsim train --method lif`` (``--encoding``): latency spikes of the whole image, or
#: ``rows`` (sequential MNIST: row t of the image is the input current at step t, ROW_STEPS rows), or
#: ``events`` (binned event frames of an EVENT_DATASETS dataset; fastsnn takes log_latency or events).
LIF_ENCODINGS: tuple[str, ...] = ("log_latency", "rows", "events")
ROW_STEPS: int = 28

#: Keys of ``snnsim.training.ann.ANNS``, ``networks.SPECS``, ``encoders.ENCODERS`` and ``snnsim.training.RULES``
#: (sorted; from :func:`snnsim.plugins.names`).
ANN_NAMES: tuple[str, ...] = plugins.names("ann")
NETWORK_NAMES: tuple[str, ...] = plugins.names("network")
ENCODER_NAMES: tuple[str, ...] = plugins.names("encoder")
RULE_NAMES: tuple[str, ...] = plugins.names("rule")

"""The argument parsers of every ``snnsim`` command; imports no torch, BindsNET or matplotlib.

``snnsim --help``, ``snnsim CMD --help``, ``--version`` and argument errors only build these
parsers, so they answer in a fraction of a second; the command module named in
:data:`COMMANDS` (which imports torch) is imported only to run the command.
"""

from __future__ import annotations

import argparse
from typing import Callable, NamedTuple, NoReturn

from snnsim import __version__
from snnsim.cli.common import (
    add_data_args,
    add_run_args,
    float_in,
    learning_rate,
    positive_float,
    positive_int,
    seed_int,
)
from snnsim.names import (
    ANN_LR,
    ANN_NAMES,
    DEFAULT_MAX_RATES,
    DEFAULT_THRESHOLDS,
    ENCODER_NAMES,
    ENGINES,
    LIF_ENCODINGS,
    MAX_NEURONS,
    NETWORK_NAMES,
    NORMS,
    OPTIMIZERS,
    RULE_NAMES,
    SCHEDULES,
)

#: Kinds of ``snnsim plot --kind``.
KINDS: tuple[str, ...] = ("raster", "rates", "hist", "traces", "ttfs", "accuracy", "confusion", "weights")
#: Curve name of ``snnsim convert --tune-none``.
TUNED = "none-tuned"

percent = float_in("a percentile in (0, 100]", lambda v: 0.0 < v <= 100.0)
dropout_prob = float_in("a probability in [0, 1)", lambda v: 0.0 <= v < 1.0)
fraction = float_in("an accuracy in [0, 1]", lambda v: 0.0 <= v <= 1.0)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``snnsim CMD: error: ... (see snnsim CMD --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def,override]
        """As argparse, but unknown options are reported by the subcommand's parser."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            sub = getattr(self, "commands", {}).get(getattr(parsed, "command", None), self)
            sub.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already names its default
    or the option has none (``None``, ``False``, empty)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            not action.option_strings
            or "default" in text
            or action.default is argparse.SUPPRESS
            or action.default is None
            or action.default is False
            or action.default == []
        ):
            return text
        return f"{text} (default: %(default)s)".lstrip()


def number_list(text: str) -> tuple[float, ...]:
    """``"1,2,4"`` -> (1.0, 2.0, 4.0): positive finite numbers."""
    try:
        values = tuple(positive_float(v) for v in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive numbers, got {text!r}") from None
    return values


def _fmt(values: tuple[float, ...]) -> str:
    return ",".join(f"{v:g}" for v in values)


def add_encoder_args(p: argparse.ArgumentParser, default: str = "poisson") -> None:
    g = p.add_argument_group("input coding")
    g.add_argument(
        "--encoder",
        default=None,
        choices=ENCODER_NAMES,
        help=f"input encoder (default: the checkpoint's, else {default})",
    )
    g.add_argument(
        "--max-rate",
        type=positive_float,
        default=None,
        help="poisson: maximum rate in Hz at dt = 1 ms (default 1000 Hz: p = x per step)",
    )
    g.add_argument(
        "--prob-scale",
        type=positive_float,
        default=None,
        help="bernoulli/poisson: spike probability per step = x * prob-scale",
    )
    g.add_argument(
        "--timesteps",
        "-T",
        type=positive_int,
        default=None,
        help="simulation steps (default: the checkpoint's, else 100)",
    )
    p.set_defaults(default_encoder=default)


def add_train_args(p: argparse.ArgumentParser, epochs: int = 10) -> None:
    """ANN training options (``train-ann``, ``convert --net``)."""
    g = p.add_argument_group("ANN training")
    g.add_argument("--epochs", type=positive_int, default=epochs, help=f"training epochs (default {epochs})")
    g.add_argument("--lr", type=learning_rate, default=ANN_LR, help=f"learning rate (default {ANN_LR:g})")
    g.add_argument(
        "--optimizer",
        default="adam",
        choices=("adam", "sgd"),
        help="adam (default) or sgd with --momentum (Diehl et al.: sgd, --lr 1, --momentum 0.5)",
    )
    g.add_argument("--momentum", type=float, default=0.5, help="SGD momentum in [0, 1) (default 0.5)")
    g.add_argument("--dropout", type=dropout_prob, default=0.5, help="dropout probability (default 0.5)")


def simulate_args(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Simulate a spiking network on a dataset split and write report.json and raster.png "
        f"(sample 0; layers above {MAX_NEURONS} neurons show an evenly spaced {MAX_NEURONS}) to --out."
    )
    p.add_argument(
        "--net", default="fc", choices=NETWORK_NAMES, help="network to build when no --checkpoint is given (default fc)"
    )
    p.add_argument("--checkpoint", default=None, help="directory of a saved network (trained weights)")
    p.add_argument("--engine", default="fast", choices=ENGINES, help="simulation engine (default fast)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--split", default="test", choices=("train", "test"), help="split to simulate (default test)")
    add_data_args(p, events=True)
    add_encoder_args(p)
    add_run_args(p)


def train_ann_args(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Train a ReLU ANN of Diehl et al. (2015) / Lee et al. (2020) with Adam (or SGD) through the "
        "shared trainer and write the ANN (ann.json, ann.pt), report.json, metrics.csv and a checkpoint "
        "(OUT/checkpoint) every epoch to --out."
    )
    p.add_argument("--net", default="fc", choices=ANN_NAMES, help="network (default fc)")
    p.add_argument("--out", required=True, help="output directory")
    g = p.add_argument_group("architecture")
    g.add_argument(
        "--hidden",
        default=None,
        metavar="SIZES",
        help="hidden layer sizes of --net fc, comma separated (default 1200,1200; e.g. 340 for the "
        "TTFS paper's FC2 784-340-10)",
    )
    g.add_argument(
        "--bias", action="store_true", help="give every Linear/Conv2d a bias (default: no biases, as Diehl et al.)"
    )
    g.add_argument(
        "--no-output-relu",
        dest="output_relu",
        action="store_false",
        help="no ReLU after the output layer (default: ReLU, as Diehl et al.). The TTFS --from-relu "
        "FC2 net: --hidden 340 --bias --no-output-relu",
    )
    add_data_args(p)
    add_train_args(p)
    t = p.add_argument_group("trainer (as snnsim train)")
    t.add_argument("--schedule", default="none", choices=SCHEDULES, help="learning-rate schedule")
    t.add_argument(
        "--patience", type=positive_int, default=None, help="early stopping after N epochs without held-out improvement"
    )
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint (--epochs may grow)")
    t.add_argument(
        "--overwrite",
        action="store_true",
        help="train into an --out that holds a run with other settings (its checkpoint is replaced)",
    )
    t.add_argument("--tensorboard", action="store_true", help="also log to OUT/tensorboard")
    t.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel DDP training; launch with torchrun --nproc_per_node N -m snnsim train-ann ...",
    )
    t.add_argument(
        "--dist-timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="with --distributed: how long a rank waits for the others (default $SNNSIM_DIST_TIMEOUT or 300)",
    )
    add_run_args(p, batch_size=64)


def convert_args(p: argparse.ArgumentParser) -> None:
    p.description = (
        "ANN-to-SNN conversion by weight/threshold balancing (Diehl et al. 2015): "
        "convert with each normalisation, simulate, compare with the ANN."
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ann", default=None, help="directory of a trained ANN (snnsim train-ann --out DIR)")
    src.add_argument("--net", default=None, choices=ANN_NAMES, help="train this ANN first (see --epochs)")
    p.add_argument("--out", required=True, help="output directory")
    g = p.add_argument_group("conversion")
    g.add_argument(
        "--norm",
        default="all",
        choices=NORMS + ("all",),
        help="normalisation (default all: none, model, data, percentile)",
    )
    g.add_argument("--percentile", type=percent, default=99.9, help="p of the percentile norm (default 99.9)")
    g.add_argument(
        "--calib-samples",
        type=positive_int,
        default=2000,
        help="training images for data/percentile normalisation (default 2000)",
    )
    g.add_argument("--reset", default="zero", choices=("zero", "subtract"), help="IF reset (default zero)")
    g.add_argument(
        "--output",
        default="auto",
        choices=("auto", "spiking", "integrator"),
        help="output layer: spiking IF (argmax of spike counts) or integrator (argmax of "
        "potential); auto: spiking if the ANN ends with a ReLU (default auto)",
    )
    g.add_argument(
        "--threshold-balancing", action="store_true", help="set thresholds instead of scaling weights (same spikes)"
    )
    g.add_argument(
        "--threshold", type=positive_float, default=1.0, help="base firing threshold of every IF layer (default 1)"
    )
    t = p.add_argument_group("tuned unnormalised baseline (Diehl et al.'s comparison)")
    t.add_argument(
        "--tune-none",
        action="store_true",
        help=f"also run the unnormalised net at the global threshold and input rate that a grid search "
        f"finds most accurate on the held-out split (curve {TUNED!r}; ties: the faster pair)",
    )
    t.add_argument(
        "--tune-thresholds",
        type=number_list,
        default=DEFAULT_THRESHOLDS,
        metavar="LIST",
        help=f"thresholds of the search (default {_fmt(DEFAULT_THRESHOLDS)})",
    )
    t.add_argument(
        "--tune-rates",
        type=number_list,
        default=None,
        metavar="LIST",
        help=f"Poisson rates in Hz of the search (default {_fmt(DEFAULT_MAX_RATES)})",
    )
    e = p.add_argument_group("simulation")
    e.add_argument(
        "--encoder",
        default="poisson",
        choices=("poisson", "current"),
        help="input coding: Poisson spikes or constant current (default poisson)",
    )
    e.add_argument(
        "--max-rate",
        type=positive_float,
        default=None,
        help="poisson: rate in Hz for x = 1 at dt = 1 ms (default 1000: p = x per step)",
    )
    e.add_argument("--timesteps", "-T", type=positive_int, default=200, help="simulation steps (default 200)")
    e.add_argument("--engine", default="fast", choices=ENGINES, help="simulation engine (default fast)")
    add_data_args(p)
    add_train_args(p)
    p.add_argument(
        "--train-batch-size", type=positive_int, default=64, help="ANN training batch size with --net (default 64)"
    )
    add_run_args(p)


def train_args(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Train a spiking network with a learning rule; writes report.json, "
        "metrics.csv and a checkpoint (OUT/checkpoint) every epoch."
    )
    p.add_argument(
        "--method",
        required=True,
        choices=RULE_NAMES + ("stdp",),
        help="learning rule (stdp: unsupervised Diehl & Cook STDP, --net diehl-cook)",
    )
    p.add_argument("--neurons", type=positive_int, default=None, help="stdp: excitatory neurons (default 100)")
    p.add_argument(
        "--net",
        default=None,
        help="architecture (default fc, for stbp-tdbn resnet19; spikebp: fc, lenet; "
        "stbp-tdbn: resnet19; ttfs: fc, fc2, vgg; fastsnn/lif: fc)",
    )
    p.add_argument(
        "--timesteps", "-T", type=positive_int, default=None, help="simulation steps (default: the method's)"
    )
    p.add_argument("--epochs", type=positive_int, default=10, help="training epochs")
    p.add_argument("--lr", type=learning_rate, default=1e-3, help="learning rate")
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, help="optimiser")
    p.add_argument("--schedule", default="none", choices=SCHEDULES, help="learning-rate schedule")
    p.add_argument(
        "--patience", type=positive_int, default=None, help="early stopping after N epochs without improvement"
    )
    p.add_argument(
        "--bptt-segment",
        type=positive_int,
        default=None,
        metavar="K",
        help="bounded-memory BPTT: checkpointed segments of K steps (exact gradients, one extra "
        "forward pass; feed-forward IF/LIF nets with per-step surrogates and the peak read-out: lif, "
        "fastsnn (its default grad=sequential; not grad=trick); not tdBN or spikebp's pseudo-derivative)",
    )
    p.add_argument("--dropout", type=float, default=None, help="dropout probability (spikebp)")
    p.add_argument("--batchnorm", action="store_true", help="BatchNorm after hidden weighted ops (spikebp)")
    p.add_argument("--hidden", default=None, help="hidden sizes of the fc net, comma separated (e.g. 800)")
    p.add_argument(
        "--recurrent",
        action="store_true",
        help="lif: a recurrent weight matrix in every hidden layer (same as --set recurrent=true)",
    )
    p.add_argument(
        "--encoding",
        default=None,
        choices=LIF_ENCODINGS,
        help="lif: input coding; rows = one image row per step as input current, T = image height "
        "(sequential MNIST; default log_latency); events = binned event frames (lif, fastsnn; "
        "the default with --dataset nmnist or shd)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other parameter of the method (value parsed as JSON), e.g. --set width=0.25",
    )
    p.add_argument(
        "--from-relu",
        default=None,
        metavar="DIR",
        help="start from a trained ReLU net (snnsim train-ann checkpoint), for methods that map one (ttfs)",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="train into an --out that holds a run with other settings (its checkpoint is replaced)",
    )
    p.add_argument("--tensorboard", action="store_true", help="also log to OUT/tensorboard")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel DDP training; launch with torchrun --nproc_per_node N -m snnsim train ...",
    )
    p.add_argument(
        "--dist-timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="with --distributed: how long a rank waits for the others to join and in every "
        "collective before giving up with an error (default $SNNSIM_DIST_TIMEOUT or 300)",
    )
    p.add_argument("--out", required=True, help="output directory")
    add_data_args(p, events=True)
    add_run_args(p, batch_size=64)


def fold_args(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Fold every tdbn/batchnorm op of a checkpoint into the conv/linear before it; "
        "write OUT/checkpoint, report.json (spike mismatches) and firing_rates.png."
    )
    p.add_argument(
        "--checkpoint", required=True, help="checkpoint directory with BN ops (e.g. RUN/checkpoint/training)"
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--timesteps",
        "-T",
        type=positive_int,
        default=None,
        help="simulation steps for the checks (default: the checkpoint's)",
    )
    p.add_argument("--sample", type=int, default=0, help="test sample for the firing-rate plot (default 0)")
    add_data_args(p)
    add_run_args(p)


def demo_args(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Train the Diehl FC ReLU net on the embedded digits, convert it to an IF spiking network "
        "(data-based normalisation), simulate it in both engines and write report.json, figures, "
        "record.pt and the network (snn/) to --out."
    )
    p.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    p.add_argument("--epochs", type=positive_int, default=10, help="ANN training epochs (default 10)")
    p.add_argument("--lr", type=learning_rate, default=3e-4, help="ANN learning rate (Adam, default 3e-4)")
    p.add_argument("--timesteps", "-T", type=positive_int, default=100, help="simulation steps (default 100)")
    p.add_argument("--max-rate", type=positive_float, default=1000.0, help="Poisson max rate in Hz (default 1000)")
    p.add_argument("--seed", type=seed_int, default=0, help="random seed in [0, 2**32)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def plot_args(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Write figures of a run directory (from its record.pt and report.json) "
        "into the directory and print the files written."
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory written by simulate/convert/train --out")
    p.add_argument(
        "--kind",
        default="all",
        choices=KINDS + ("all",),
        help="raster: spikes of one sample; rates: mean rate per layer; hist: per-neuron rate "
        "histogram; traces: membrane potentials; ttfs: first-spike times; accuracy: accuracy "
        "vs time steps; confusion: confusion matrix; all (default): every one available",
    )
    p.add_argument("--sample", type=int, default=0, help="sample of record.pt for raster/traces (default 0)")
    p.add_argument("--format", default="png", choices=("png", "svg"), help="image format (default png)")
    p.add_argument("--layers", nargs="+", default=None, help="layers to show (default all)")
    p.add_argument("--unit", default="step", choices=("step", "hz"), help="rate unit (default spikes/step)")
    p.add_argument("--log-x", action="store_true", help="accuracy: logarithmic time axis")
    p.add_argument(
        "--ann-acc",
        type=fraction,
        default=None,
        help="accuracy: ANN reference accuracy in [0, 1] (default report.json's ann_accuracy)",
    )
    p.add_argument(
        "--thresh",
        type=positive_float,
        default=None,
        help="traces: threshold line (default from the run's network spec)",
    )


def view_args(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Open the raster viewer on RUN_DIR/record.pt: sample slider (up/down keys), "
        "time-window slider (left/right keys), layer check boxes, toolbar zoom/pan. "
        "With --save it renders the view to a file instead (no display needed); with --html it "
        "writes a self-contained interactive page (WebGL rasters, sample menu, layer toggles)."
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory with record.pt (e.g. from snnsim simulate --out)")
    p.add_argument("--sample", type=int, default=0, help="sample shown first (default 0)")
    p.add_argument("--layers", nargs="+", default=None, help="layers shown first (default all)")
    p.add_argument(
        "--window",
        nargs=2,
        type=int,
        metavar=("T0", "T1"),
        default=None,
        help="time steps shown first, T0 <= t < T1 (default all)",
    )
    p.add_argument(
        "--save",
        default=None,
        metavar="FILE",
        help="render the view to FILE (.png or .svg) instead of opening a window",
    )
    p.add_argument("--dpi", type=positive_int, default=120, help="resolution of --save PNGs (default 120)")
    p.add_argument(
        "--html",
        default=None,
        metavar="FILE",
        help="write an interactive page to FILE.html instead (one file, opens offline in any browser)",
    )
    p.add_argument(
        "--max-spikes",
        type=positive_int,
        default=None,
        help="--html: spike budget of the page; samples past it are left out (default 1000000)",
    )
    p.add_argument(
        "--max-neurons",
        type=positive_int,
        default=None,
        help=f"--html: neurons drawn per layer, evenly spaced above it (default {MAX_NEURONS})",
    )


class Command(NamedTuple):
    """A subcommand: the module whose ``run(args) -> int`` runs it, its one-line help, its options."""

    module: str
    help: str
    add_args: Callable[[argparse.ArgumentParser], None]


COMMANDS: dict[str, Command] = {
    "convert": Command("snnsim.cli.convert", "convert a ReLU ANN into a spiking network and evaluate it", convert_args),
    "demo": Command(
        "snnsim.cli.demo", "train, convert and simulate on the embedded digits (about a minute)", demo_args
    ),
    "fold": Command("snnsim.cli.fold", "fold BatchNorm/tdBN of a checkpoint into the weights and check it", fold_args),
    "plot": Command("snnsim.cli.plot", "plot a run directory (raster, rates, traces, accuracy, ...)", plot_args),
    "simulate": Command(
        "snnsim.cli.simulate", "simulate a network on a dataset (fast or bindsnet engine)", simulate_args
    ),
    "train": Command("snnsim.cli.train", "train a spiking network (spikebp, ...)", train_args),
    "train-ann": Command("snnsim.cli.train_ann", "train a ReLU ANN (fc, scnn, lenet) for conversion", train_ann_args),
    "view": Command("snnsim.cli.view", "browse the spike rasters of a run interactively", view_args),
}


def build_parser() -> Parser:
    """The ``snnsim`` parser with every subcommand (cheap: imports no command module)."""
    parser = Parser(
        prog="snnsim",
        formatter_class=HelpFormatter,
        description="Spiking neural networks on BindsNET: simulate, convert, train, analyse.",
    )
    parser.add_argument("--version", action="version", version=f"snnsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    parser.commands = {
        name: sub.add_parser(name, help=cmd.help, formatter_class=HelpFormatter) for name, cmd in COMMANDS.items()
    }
    for name, cmd in COMMANDS.items():
        cmd.add_args(parser.commands[name])
    return parser

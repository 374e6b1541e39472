"""Every training command of docs/results.md runs and still earns its figure (issue 31).

FastSNN's README command fell from 81.55% to 54% without any test noticing: nothing ran it.
Each case here takes the command from docs/results.md itself, where the README's Results moved
(issue 27; so an edited command is what runs), shortens it where the full run takes more than a
few minutes, and checks the held-out accuracy against a floor derived from the figure that the
page prints beside it (parsed from docs/results.md too): ``floor = figure - margin``. The
margin covers the shortening and the seed-to-seed spread; each is stated with what was
measured at that length (2026-12-03,
``pytest -m slow tests/test_readme_results.py``, 1 thread, the shared 2-core CPU).

Slow (``make test-all``): about 45 minutes in all on this CPU. Needs ../shared/data/mnist.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from snnsim.cli import main
from snnsim.data.datasets import default_mnist_dir

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results.md"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(default_mnist_dir() is None, reason="mnist10k IDX files not found (../shared/data/mnist)"),
]


@dataclass(frozen=True)
class Case:
    """One README command: ``marker`` picks its line, ``choice`` the alternative of each
    ``a|b`` token, ``override`` shortens it; ``figure`` (a regex with one group) finds the
    README's percentage; the run must reach ``figure - margin`` points."""

    marker: str
    figure: str
    margin: float
    override: dict[str, str] = field(default_factory=dict)
    choice: tuple[str, ...] = ()
    before: tuple[str, ...] = ()  # markers of commands that must run first (e.g. the ANN)


CASES = {
    # full length (5 epochs): 89.40 (seed 0); seeds 0-2 gave 88.55-89.40
    "fastsnn": Case("--method lif|fastsnn", r"FastSNN \*\*([\d.]+)%\*\*", 1.5, choice=("fastsnn",)),
    # full length (5 epochs): 90.85 (seed 0)
    "lif": Case("--method lif|fastsnn", r"LIF ([\d.]+)%, FastSNN", 1.5, choice=("lif",)),
    # the FC ANN at full length, then data normalisation only (the README runs all four norms): passed
    "conversion": Case(
        "snnsim convert --ann R/ann_fc --dataset mnist10k --norm all --encoder poisson",
        r"\| \| data \| \*\*([\d.]+)%\*\* \| 24 \|",
        1.0,
        override={"--norm": "data"},
        before=("snnsim train-ann --net fc|scnn",),
        choice=("fc",),
    ),
    # 2 of 15 epochs: passed (~15 s)
    "ttfs": Case(
        "--method ttfs --net fc2 --dataset mnist10k --epochs 15 --lr 1e-3 --threads 1 --out R/ttfs",
        r"trained as TTFS: \*\*([\d.]+)%\*\*",
        3.0,
        override={"--epochs": "2"},
    ),
    # full length (4 epochs): 94.25
    "spikebp-fc": Case("--method spikebp --net fc --hidden 800", r"FC 784-800-10, T = 30, 4 epochs: ([\d.]+)%", 1.5),
    # 1 of 14 epochs (~400 s here): 73.60. Spike-BP's LeNet starts slowly, so this floor only
    # catches a collapse; the FC case above holds spike-BP to its figure at full length.
    "spikebp-lenet": Case(
        "--method spikebp --net lenet -T 20",
        r"LeNet with spike-based BP: \*\*([\d.]+)%\*\*",
        30.0,
        override={"--epochs": "1"},
    ),
    # full length (3 epochs, about 8-10 min here with the native Lee kernels): 94.90 (95.65 and
    # 95.30 before the conv-training changes of issue 29 changed the convolutions' rounding)
    # seeds 0/1/2 on 2026-12-04 (AMD EPYC): 97.05/97.25/96.70; the ANN 97.10/96.75/96.55
    "spikebp-lenet-gap": Case(
        "--method spikebp --net lenet -T 30 --epochs 3", r"Spike-BP LeNet, 3 epochs: \*\*([\d.]+)%\*\*", 1.0
    ),
    "ann-lenet-3": Case(
        "train-ann --net lenet --dataset mnist10k --epochs 3", r"ReLU ANN LeNet, 3 epochs: \*\*([\d.]+)%\*\*", 1.0
    ),
    # issue 26's pair, full length. Spike-BP (about 16 min here): seeds 0/1/2 gave 98.15/98.40/98.15
    # (2026-12-04/05, AMD EPYC, reruns identical); the ANN (about 25 s) 98.60/98.70/98.45. The
    # floors (figure - 0.5) keep the spike-BP run within the claimed gap of the ANN's figure.
    "spikebp-lenet-6": Case(
        "--method spikebp --net lenet -T 30 --epochs 6", r"Spike-BP LeNet, 6 epochs: \*\*([\d.]+)%\*\*", 0.5
    ),
    "ann-lenet-6": Case(
        "train-ann --net lenet --dataset mnist10k --epochs 6", r"ReLU ANN LeNet, 6 epochs: \*\*([\d.]+)%\*\*", 0.5
    ),
    # full length (1 epoch, ~1 min here): 84.20
    "stdp-100": Case(
        "--method stdp --net diehl-cook --neurons 100",
        r"\| 100 \| 1 epoch of 8,000 images \| \d+ \| "
        r"\d+ s \| \*\*([\d.]+)%\*\*",
        1.5,
    ),
    # full length (3 epochs, ~3 min here): 88.45
    "stdp-400": Case(
        "--method stdp --net diehl-cook --neurons 400",
        r"\| 400 \| 3 epochs of 8,000 images \| \d+ \| "
        r"\d+ s \| \*\*([\d.]+)%\*\*",
        1.5,
    ),
    # 2 of 10 epochs (cosine schedule over the shortened run; ~80 s here): 94.55 where this was
    # first set; on 2026-12-04 (AMD EPYC) seeds 0/1/2 gave 92.95/92.60/91.80, and 93.60/93.80/91.55
    # with the event-driven conv training and fused pooling switched off (SNNSIM_EVENT_CONV_TRAIN=0
    # SNNSIM_FUSED_POOL=0): two epochs spread about 2 points over seeds and rounding, so the floor
    # (figure - 7) catches a collapse, not a few tenths
    "stbp": Case(
        "--method stbp-tdbn --net resnet19", r"T = 2: \*\*([\d.]+)%\*\* held out", 7.0, override={"--epochs": "2"}
    ),
}


def readme_command(marker: str) -> list[str]:
    """The README command (continuation lines joined) whose text contains ``marker``."""
    text = RESULTS.read_text().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("snnsim ") and marker in ln]
    assert len(lines) == 1, f"expected one docs/results.md command containing {marker!r}, found {lines}"
    return shlex.split(lines[0])[1:]


def readme_figure(pattern: str) -> float:
    found = re.findall(pattern, RESULTS.read_text())
    assert len(found) == 1, f"expected one docs/results.md figure matching {pattern!r}, found {found}"
    return float(found[0])


def prepare(argv: list[str], case: Case, root: Path) -> list[str]:
    """Pick the alternatives, shorten, and send ``R/...`` outputs under ``root``."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if "|" in arg and not arg.startswith("-"):
            options = arg.split("|")
            picked = [o for o in options if o in case.choice]
            arg = picked[0] if picked else options[0]
        if i and argv[i - 1] in case.override:
            arg = case.override[argv[i - 1]]
        out.append(str(root / arg[2:]) if arg.startswith("R/") else arg)
    return [*out, "--no-progress"]


@pytest.mark.parametrize("name", list(CASES))
def test_readme_command_earns_its_figure(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    figure = readme_figure(case.figure)
    for marker in case.before:
        assert main(prepare(readme_command(marker), case, tmp_path)) == 0
    argv = prepare(readme_command(case.marker), case, tmp_path)
    assert main(argv) == 0
    out = Path(argv[argv.index("--out") + 1])
    report = json.loads((out / "report.json").read_text())
    if "snn_accuracy" in report:  # convert: one accuracy per normalisation
        accuracy = report["snn_accuracy"][case.override["--norm"]]
    else:
        accuracy = report["final_accuracy"]
    floor = figure - case.margin
    assert 100 * accuracy >= floor, (name, 100 * accuracy, f"docs/results.md: {figure}%, floor {floor}%", argv)

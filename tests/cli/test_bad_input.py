"""Bad input on the command line (issue 15, item 7): every case ends with exit code 2 and ONE
line on stderr naming what was wrong, no traceback, and no file written or changed anywhere.

Runs in-process through ``snnsim.cli.main`` (a subprocess per case would cost seconds of torch
import). The fixtures (a trained ANN, a simulate run, a training checkpoint) are built once per
module from the real commands; the bad files are made from them: truncated, binary, empty,
wrong JSON types, code-carrying pickles and weights of the wrong shapes, the last three also
re-sealed so that they get past the checksums and reach the loaders.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
import torch

from snnsim.cli import main
from tests.cli.bad_files import MARKER, ann_variants, checkpoint_variants, data_variants, run_cli, run_variants

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A module directory: ann/ (train-ann), ann9/ (other hidden size), run/ (simulate),
    tr/ and tr9/ (train spikebp, with checkpoint/), bad/ (the broken copies), data files."""
    base = tmp_path_factory.mktemp("bad_input")
    tiny = ["--limit", "32", "--epochs", "1", "--no-progress"]
    run_cli(["train-ann", "--net", "fc", "--hidden", "8", *tiny, "--out", str(base / "ann")])
    run_cli(["train-ann", "--net", "fc", "--hidden", "9", *tiny, "--out", str(base / "ann9")])
    run_cli(["simulate", "--limit", "4", "-T", "3", "--batch-size", "4", "--no-progress", "--out", str(base / "run")])
    for hidden, name in (("8", "tr"), ("9", "tr9")):
        run_cli(
            [
                "train",
                "--method",
                "spikebp",
                "--hidden",
                hidden,
                "-T",
                "3",
                "--batch-size",
                "16",
                *tiny,
                "--out",
                str(base / name),
            ]
        )
    bad = base / "bad"
    bad.mkdir()
    (bad / "empty").mkdir()
    (bad / "file").write_text("x")
    (bad / "dangling").symlink_to(bad / "nowhere")
    (bad / "loop").symlink_to(bad / "loop")
    shutil.copytree(base / "run", bad / "run_cm_ragged")
    (bad / "run_cm_ragged" / "report.json").write_text('{"num_classes": 2, "confusion_matrix": [[1, 2], [3]]}')
    shutil.copytree(base / "run", bad / "run_cm_text")
    (bad / "run_cm_text" / "report.json").write_text('{"num_classes": 2, "confusion_matrix": [["a", 2], [3, 4]]}')
    ann_variants(base / "ann", base / "ann9", bad)
    checkpoint_variants(base / "tr" / "checkpoint", base / "tr9" / "checkpoint", bad)
    run_variants(base / "run", bad)
    data_variants(bad)
    return base


SIM = "simulate --limit 4 -T 3 --batch-size 4 --no-progress"
ANN = "train-ann --net fc --hidden 8 --limit 16 --epochs 1 --no-progress"
CONV = "convert --ann {base}/ann --limit 8 -T 3 --norm none --calib-samples 4 --no-progress"
TRAIN = "train --limit 16 --epochs 1 -T 3 --batch-size 16 --no-progress"
RESUME = TRAIN.replace("--limit 16", "--limit 32")  # the fixture checkpoints' settings
FOLD = "fold --checkpoint {base}/tr/checkpoint --limit 4 --no-progress"
PLOT = "plot {base}/run"
VIEW = "view {base}/run"
MNIST = f"{SIM} --dataset mnist10k --data-dir {{bad}}"

#: (id, command line, a fragment the one line must contain). ``{out}`` is added to every command
#: with an --out option (a fresh directory per case); ``{base}``/``{bad}`` are the fixtures.
CASES: list[tuple[str, str, str]] = [
    # --- options every run command shares, on each command ------------------------------
    *[
        (f"{name}-device-meta", f"{cmd} --device meta", "--device meta")
        for name, cmd in (
            ("simulate", SIM),
            ("train-ann", ANN),
            ("convert", CONV),
            ("train", f"{TRAIN} --method spikebp"),
            ("fold", FOLD),
        )
    ],
    *[
        (f"{name}-seed-2**70", f"{cmd} --seed {2**70}", "--seed")
        for name, cmd in (
            ("simulate", SIM),
            ("train-ann", ANN),
            ("convert", CONV),
            ("train", f"{TRAIN} --method lif"),
            ("demo", "demo"),
        )
    ],
    *[
        (f"{name}-lr-1e300", f"{cmd} --lr 1e300", "--lr")
        for name, cmd in (
            ("train-ann", ANN),
            ("convert", "convert --net fc --limit 8"),
            ("demo", "demo"),
            *[(f"train-{m}", f"{TRAIN} --method {m}") for m in ("spikebp", "lif", "fastsnn", "ttfs", "stbp-tdbn")],
        )
    ],
    ("seed-negative", f"{SIM} --seed -1", "--seed"),
    ("seed-text", f"{SIM} --seed abc", "--seed"),
    ("device-unknown", f"{SIM} --device quantum", "--device"),
    ("device-cuda-absent", f"{SIM} --device cuda", "cuda"),
    ("device-mps-absent", f"{SIM} --device mps", "mps"),
    ("device-cuda-index", f"{ANN} --device cuda:99", "cuda"),
    ("threads-huge", f"{SIM} --threads 100000", "--threads"),
    ("threads-zero", f"{SIM} --threads 0", "--threads"),
    ("batch-size-zero", f"{SIM} --batch-size 0", "--batch-size"),
    ("limit-negative", f"{SIM} --limit -3", "--limit"),
    ("max-memory-text", f"{SIM} --max-memory lots", "--max-memory"),
    ("max-memory-zero", f"{SIM} --max-memory 0", "--max-memory"),
    ("timesteps-huge", f"{SIM} -T 1000000000000", "memory"),
    ("timesteps-float", f"{SIM} -T 2.5", "--timesteps"),
    ("dataset-unknown", f"{SIM} --dataset imagenet", "--dataset"),
    ("engine-unknown", f"{SIM} --engine warp", "--engine"),
    ("unknown-option", f"{SIM} --frobnicate 3", "--frobnicate"),
    ("train-set-bool-int", f"{TRAIN} --method spikebp --set batchnorm=5", "batchnorm"),
    ("train-set-unknown-ttfs", f"{TRAIN} --method ttfs --set frobnicate=1", "frobnicate"),
    # --- simulate ----------------------------------------------------------------------
    ("sim-max-rate-huge", f"{SIM} --max-rate 1e300", "max_rate"),
    ("sim-max-rate-nan", f"{SIM} --max-rate nan", "--max-rate"),
    ("sim-prob-scale-huge", f"{SIM} --encoder bernoulli --prob-scale 5", "prob_scale"),
    ("sim-rate-and-scale", f"{SIM} --max-rate 5 --prob-scale 0.1", "--prob-scale"),
    ("sim-rate-for-current", f"{SIM} --encoder current --max-rate 5", "--encoder current"),
    ("sim-encoder-unknown", f"{SIM} --encoder morse", "--encoder"),
    ("sim-net-unknown", f"{SIM} --net vgg99", "--net"),
    ("sim-ckpt-missing", f"{SIM} --checkpoint {{bad}}/missing", "missing"),
    ("sim-ckpt-empty-dir", f"{SIM} --checkpoint {{bad}}/empty", "empty"),
    ("sim-ckpt-a-file", f"{SIM} --checkpoint {{bad}}/file", "file"),
    ("sim-ckpt-an-ann", f"{SIM} --checkpoint {{base}}/ann", "network.json"),
    *[
        (f"sim-{v}", f"{SIM} --checkpoint {{bad}}/{v}/checkpoint", frag)
        for v, frag in (
            ("ck_trunc_weights", "weights.pt"),
            ("ck_trunc_trainer", "trainer.pt"),
            ("ck_empty_weights", "weights.pt"),
            ("ck_no_weights", "weights.pt"),
            ("ck_no_json", "network.json"),
            ("ck_json_list", "network.json"),
            ("ck_json_bin", "network.json"),
            ("ck_json_deep", "network.json"),
            ("ck_json_edited", "network.json"),
            ("ck_evil_sealed", "weights_only"),
            ("ck_trunc_sealed", "weights.pt"),
            ("ck_shapes_sealed", "fit"),
            ("ck_list_sealed", "weights.pt"),
        )
    ],
    (
        "sim-ckpt-wrong-dataset",
        f"{SIM} --checkpoint {{base}}/tr/checkpoint --dataset cifar10 --data-root {{bad}}/empty",
        "cifar10",
    ),
    # --- datasets ----------------------------------------------------------------------
    ("data-mnist-root-empty", f"{SIM} --dataset mnist --data-root {{bad}}/empty", "mnist"),
    ("data-fashion-root-file", f"{SIM} --dataset fashion-mnist --data-root {{bad}}/file", "fashion-mnist"),
    ("data-cifar-root-empty", f"{SIM} --dataset cifar10 --data-root {{bad}}/empty", "cifar10"),
    ("data-mnist10k-missing", f"{MNIST}/missing", "mnist10k"),
    ("data-mnist10k-empty", f"{MNIST}/idx_empty", "mnist10k"),
    ("data-mnist10k-binary", f"{MNIST}/idx_binary", "IDX"),
    ("data-mnist10k-cut", f"{MNIST}/idx_cut", "truncated"),
    ("data-mnist10k-not-gzip", f"{MNIST}/idx_not_gzip", "idx"),
    ("data-mnist10k-gzip-cut", f"{MNIST}/idx_gzip_cut", "gzip"),
    ("data-mnist10k-count", f"{MNIST}/idx_count", "labels"),
    ("data-mnist10k-labels", f"{MNIST}/idx_labels", "labels"),
    ("data-mnist10k-one-image", f"{MNIST}/idx_one", "2 images"),
    ("data-mnist10k-float", f"{MNIST}/idx_float", "uint8"),
    ("data-mnist10k-flat", f"{MNIST}/idx_flat", "uint8"),
    # --- train-ann -----------------------------------------------------------------------
    ("ann-lr-nan", f"{ANN} --lr nan", "--lr"),
    ("ann-lr-negative", f"{ANN} --lr=-1", "--lr"),
    ("ann-hidden-zero", f"{ANN.replace('--hidden 8', '--hidden 0')}", "--hidden"),
    ("ann-hidden-text", f"{ANN.replace('--hidden 8', '--hidden many')}", "--hidden"),
    ("ann-hidden-huge", f"{ANN.replace('--hidden 8', '--hidden 1000000000')}", "memory"),
    ("ann-hidden-for-lenet", f"{ANN.replace('--net fc', '--net lenet')}", "--hidden"),
    ("ann-momentum-2", f"{ANN} --optimizer sgd --momentum 2", "momentum"),
    ("ann-momentum-nan", f"{ANN} --optimizer sgd --momentum nan", "momentum"),
    ("ann-dropout-1", f"{ANN} --dropout 1", "--dropout"),
    ("ann-epochs-zero", f"{ANN} --epochs 0", "--epochs"),
    ("ann-optimizer", f"{ANN} --optimizer lbfgs", "--optimizer"),
    # --- convert -----------------------------------------------------------------------
    *[
        (f"conv-{v}", f"{CONV.replace('{base}/ann', '{bad}/' + v)}", frag)
        for v, frag in (
            ("missing", "missing"),
            ("empty", "empty"),
            ("file", "file"),
            ("ann_trunc", "ann.pt"),
            ("ann_empty_pt", "ann.pt"),
            ("ann_no_pt", "ann.pt"),
            ("ann_json_list", "ann.json"),
            ("ann_json_bin", "ann.json"),
            ("ann_json_empty", "ann.json"),
            ("ann_json_deep", "ann.json"),
            ("ann_json_edited", "ann.json"),
            ("ann_evil_sealed", "weights_only"),
            ("ann_trunc_sealed", "ann.pt"),
            ("ann_shapes_sealed", "does not fit"),
            ("ann_list_sealed", "ann.pt"),
        )
    ],
    ("conv-a-checkpoint", f"{CONV.replace('{base}/ann', '{base}/tr/checkpoint')}", "ann.json"),
    ("conv-percentile-0", f"{CONV} --percentile 0", "--percentile"),
    ("conv-percentile-101", f"{CONV} --percentile 101", "--percentile"),
    ("conv-calib-zero", f"{CONV} --calib-samples 0", "--calib-samples"),
    ("conv-threshold-inf", f"{CONV} --threshold inf", "--threshold"),
    ("conv-tune-rates", f"{CONV} --tune-none --tune-rates 0,1", "--tune-rates"),
    ("conv-tune-thresholds", f"{CONV} --tune-none --tune-thresholds a,b", "--tune-thresholds"),
    ("conv-rate-for-current", f"{CONV} --encoder current --max-rate 100", "--max-rate"),
    ("conv-max-rate-huge", f"{CONV} --max-rate 1e300", "max_rate"),
    ("conv-no-source", "convert --limit 8", "--ann"),
    ("conv-two-sources", "convert --ann {base}/ann --net fc", "--net"),
    ("conv-norm-unknown", f"{CONV.replace('--norm none', '--norm magic')}", "--norm"),
    ("conv-dataset-mismatch", f"{CONV} --dataset cifar10 --data-root {{bad}}/empty", "cifar10"),
    # --- train ---------------------------------------------------------------------------
    ("train-method-unknown", f"{TRAIN} --method hebb", "--method"),
    ("train-no-method", TRAIN, "--method"),
    ("train-net-for-method", f"{TRAIN} --method spikebp --net vgg", "vgg"),
    ("train-stbp-fc", f"{TRAIN} --method stbp-tdbn --net fc", "fc"),
    ("train-ttfs-resnet", f"{TRAIN} --method ttfs --net resnet19", "resnet19"),
    ("train-set-unknown", f"{TRAIN} --method spikebp --set foo=1", "foo"),
    ("train-set-no-equals", f"{TRAIN} --method spikebp --set noequals", "--set"),
    ("train-set-timesteps-0", f"{TRAIN} --method fastsnn --set timesteps=0", "timesteps"),
    ("train-set-thresh-0", f"{TRAIN} --method spikebp --set thresh=0", "thresh"),
    ("train-set-dt-nan", f"{TRAIN} --method lif --set dt=nan", "dt"),
    ("train-set-width-neg", f"{TRAIN} --method stbp-tdbn --set width=-1", "width"),
    ("train-set-hidden-0", f"{TRAIN} --method fastsnn --set hidden=[0]", "hidden"),
    ("train-dropout-2", f"{TRAIN} --method spikebp --dropout 2", "--dropout"),
    ("train-hidden-negative", f"{TRAIN} --method spikebp --hidden=-3", "--hidden"),
    ("train-patience-0", f"{TRAIN} --method spikebp --patience 0", "--patience"),
    ("train-schedule", f"{TRAIN} --method spikebp --schedule sometimes", "--schedule"),
    ("train-from-relu-missing", f"{TRAIN} --method ttfs --from-relu {{bad}}/missing", "missing"),
    ("train-from-relu-cut", f"{TRAIN} --method ttfs --from-relu {{bad}}/ann_trunc", "ann.pt"),
    ("train-from-relu-evil", f"{TRAIN} --method ttfs --from-relu {{bad}}/ann_evil_sealed", "weights_only"),
    ("train-from-relu-other-method", f"{TRAIN} --method spikebp --from-relu {{base}}/ann", "from_relu"),
    ("train-resume-nothing", f"{TRAIN} --method spikebp --resume", "--resume"),
    *[
        (f"train-resume-{v}", f"{RESUME} --method spikebp --hidden 8 --resume --out {{bad}}/{v}", frag)
        for v, frag in (
            ("ck_trunc_trainer", "trainer.pt"),
            ("ck_trainer_evil_sealed", "weights_only"),
            ("ck_trainer_trunc_sealed", "trainer.pt"),
            ("ck_json_list", "network.json"),
            ("ck_shapes_sealed", "fit"),
        )
    ],
    ("train-resume-other-hidden", f"{RESUME} --method spikebp --hidden 20 --resume --out {{base}}/tr", "hidden"),
    # --- fold ----------------------------------------------------------------------------
    ("fold-missing", "fold --checkpoint {bad}/missing", "missing"),
    ("fold-cut", "fold --checkpoint {bad}/ck_trunc_weights/checkpoint", "weights.pt"),
    ("fold-evil", "fold --checkpoint {bad}/ck_evil_sealed/checkpoint", "weights_only"),
    ("fold-json-list", "fold --checkpoint {bad}/ck_json_list/checkpoint", "network.json"),
    ("fold-an-ann", "fold --checkpoint {base}/ann", "network.json"),
    ("fold-no-checkpoint", "fold", "--checkpoint"),
    ("fold-trained-bernoulli", FOLD, "coding"),
    # --- plot ----------------------------------------------------------------------------
    ("plot-missing", "plot {bad}/missing", "missing"),
    ("plot-a-file", "plot {bad}/file", "file"),
    ("plot-empty-dir", "plot {bad}/empty", "empty"),
    *[
        (f"plot-{v}", f"plot {{bad}}/{v}", frag)
        for v, frag in (
            ("run_report_list", "list"),
            ("run_report_str", "str"),
            ("run_report_bin", "report.json"),
            ("run_report_empty", "report.json"),
            ("run_report_cut", "report.json"),
            ("run_report_deep", "report.json"),
            ("run_report_classes", "num_classes"),
            ("run_report_net", "'net'"),
            ("run_report_dt", "'dt'"),
            ("run_report_cm", "confusion_matrix"),
            ("run_report_zero_classes", "num_classes"),
            ("run_no_files", "report.json"),
            ("run_record_cut", "record.pt"),
            ("run_record_bin", "record.pt"),
            ("run_record_empty", "record.pt"),
            ("run_record_evil", "weights_only"),
            ("run_record_list", "record.pt"),
            ("run_record_no_spikes", "spikes"),
            ("run_record_numbers", "tensors"),
            ("run_record_shapes", "[T, B"),
            ("run_record_flat", "[T, B"),
        )
    ],
    ("plot-sample-negative", f"{PLOT} --sample -1", "sample"),
    ("plot-sample-huge", f"{PLOT} --sample 1000", "sample"),
    ("plot-layers-unknown", f"{PLOT} --layers nosuch", "nosuch"),
    ("plot-ann-acc-5", f"{PLOT} --kind accuracy --ann-acc 5", "--ann-acc"),
    ("plot-thresh-nan", f"{PLOT} --kind traces --thresh nan", "--thresh"),
    ("plot-kind-unknown", f"{PLOT} --kind sonogram", "--kind"),
    ("plot-format-unknown", f"{PLOT} --format bmp", "--format"),
    ("plot-no-accuracy", f"{PLOT} --kind accuracy", "accuracy"),
    ("plot-no-confusion", f"{PLOT} --kind confusion", "confusion"),
    # --- view ----------------------------------------------------------------------------
    ("view-missing", "view {bad}/missing --save {out}/v.png", "missing"),
    ("view-report-list", "view {bad}/run_report_list --save {out}/v.png", "list"),
    ("view-record-cut", "view {bad}/run_record_cut --save {out}/v.png", "record.pt"),
    ("view-record-evil", "view {bad}/run_record_evil --html {out}/v.html", "weights_only"),
    ("view-sample-negative", f"{VIEW} --sample -1 --save {{out}}/v.png", "sample"),
    ("view-sample-huge", f"{VIEW} --sample 99 --html {{out}}/v.html", "sample"),
    ("view-window-reversed", f"{VIEW} --window 2 1 --save {{out}}/v.png", "window"),
    ("view-window-negative", f"{VIEW} --window -5 2 --save {{out}}/v.png", "window"),
    ("view-layers-unknown", f"{VIEW} --layers nosuch --save {{out}}/v.png", "nosuch"),
    ("view-save-txt", f"{VIEW} --save {{out}}/v.txt", "--save"),
    ("view-save-unwritable", f"{VIEW} --save /dev/null/v.png", "--save"),
    ("view-html-txt", f"{VIEW} --html {{out}}/v.txt", ".html"),
    ("view-html-unwritable", f"{VIEW} --html /dev/null/v.html", "--html"),
    ("view-html-and-save", f"{VIEW} --html {{out}}/v.html --save {{out}}/v.png", "--save"),
    ("view-dpi-zero", f"{VIEW} --dpi 0 --save {{out}}/v.png", "--dpi"),
    # --- demo ----------------------------------------------------------------------------
    ("demo-epochs-zero", "demo --epochs 0", "--epochs"),
    ("demo-max-rate-huge", "demo --max-rate 1e300 --epochs 1 -T 2", "max_rate"),
    ("demo-out-dev-null", "demo --out /dev/null/x", "--out"),
    ("no-command", "", "COMMAND"),
    ("unknown-command", "frobnicate", "frobnicate"),
    # --- issue 30: names, ranges, sizes, non-finite numbers, files, output directories --------
    *[
        (f"sim-{v}", f"{SIM} --checkpoint {{bad}}/{v}/checkpoint", frag)
        for v, frag in (
            ("ck_name_dot", "'a.b' is not allowed"),
            ("ck_name_path", "'../x' is not allowed"),
            ("ck_name_reserved", "'layers' is not allowed"),
            ("ck_thresh_negative", "thresh: must be > 0, got -1"),
            ("ck_leak_5", "leak: must be <= 1, got 5"),
            ("ck_many_layers", "at most 10000 items"),
            ("ck_nan_weights", "non-finite"),
            ("ck_inf_weights", "1 infinite"),
            ("ck_weights_dir", "is a directory"),
            ("ck_weights_dev_zero", "not a regular file"),
            ("ck_json_dev_zero", "not a regular file"),
        )
    ],
    ("fold-nan-weights", "fold --checkpoint {bad}/ck_nan_weights/checkpoint", "non-finite"),
    ("fold-name-dot", "fold --checkpoint {bad}/ck_name_dot/checkpoint", "a.b"),
    ("data-mnist10k-dir", f"{MNIST}/idx_dir", "is a directory"),
    ("data-mnist10k-dev-zero", f"{MNIST}/idx_dev_zero", "not a regular file"),
    ("train-set-thresh-0-range", f"{TRAIN} --method spikebp --set thresh=0", "thresh: must be > 0, got 0"),
    ("train-set-thresh-neg-range", f"{TRAIN} --method spikebp --set thresh=-1", "must be > 0, got -1"),
    ("train-set-leak-5-range", f"{TRAIN} --method spikebp --set leak=5", "leak: must be <= 1, got 5"),
    ("train-resume-and-overwrite", f"{TRAIN} --method spikebp --resume --overwrite", "not both"),
    ("train-over-other-run", f"{RESUME} --method spikebp --hidden 20 --out {{base}}/tr", "other settings"),
    ("train-over-damaged-run", f"{RESUME} --method spikebp --hidden 8 --out {{bad}}/ck_json_list", "--overwrite"),
    ("out-name-too-long", f"{SIM} --out {{out}}/{'n' * 300}", "shorter name"),
    ("out-dangling-link", f"{SIM} --out {{bad}}/dangling", "does not exist"),
    ("out-link-loop", f"{SIM} --out {{bad}}/loop", "(a loop)"),
    ("out-in-checkpoint", f"{SIM} --out {{base}}/tr/checkpoint", "inside the checkpoint"),
    ("out-below-checkpoint", f"{SIM} --out {{base}}/tr/checkpoint/sim", "inside the checkpoint"),
    ("out-below-ann", f"{ANN} --out {{base}}/ann/sub", "inside the checkpoint"),
    ("train-out-in-checkpoint", f"{TRAIN} --method spikebp --out {{base}}/tr/checkpoint", "inside the checkpoint"),
    ("plot-confusion-ragged", "plot {bad}/run_cm_ragged --kind confusion", "square"),
    ("plot-confusion-text", "plot {bad}/run_cm_text --kind confusion", "cm"),
    ("view-dpi-huge", f"{VIEW} --dpi 1000000 --save {{out}}/v.png", "--dpi 1000000"),
    ("view-dpi-memory", f"{VIEW} --dpi 60000 --save {{out}}/v.png", "memory"),
]

HAS_OUT = ("simulate", "train-ann", "convert", "train", "fold", "demo")


def _files(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_command_line_is_one_line_exit_2(
    case: tuple[str, str, str],
    base: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name, line, fragment = case
    if name == "device-cuda-absent" and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    out = tmp_path / "out"
    argv = shlex.split(line.format(base=base, bad=base / "bad", out=out))
    if argv and argv[0] in HAS_OUT and "--out" not in argv:
        argv += ["--out", str(out)]
    monkeypatch.chdir(tmp_path)
    before = _files(base)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse errors
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("snnsim"), err
    assert fragment.lower() in lines[0].lower(), err
    assert not (tmp_path / MARKER).exists(), "a pickle ran code"
    assert _files(base) == before, "a fixture file was written or changed"
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*")), sorted(out.rglob("*"))


def test_cli_cases_are_many_and_distinct() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 150
    assert sum(1 for i in ids if i.startswith(ISSUE30)) >= 30  # issue 30's cases are rows of this table


ISSUE30 = (
    "sim-ck_name",
    "sim-ck_thresh",
    "sim-ck_leak",
    "sim-ck_many",
    "sim-ck_nan",
    "sim-ck_inf",
    "sim-ck_weights_",
    "sim-ck_json_dev",
    "fold-nan",
    "fold-name",
    "data-mnist10k-d",
    "train-set-thresh-0-range",
    "train-set-thresh-neg",
    "train-set-leak-5",
    "train-resume-and",
    "train-over",
    "out-",
    "train-out",
    "plot-confusion",
    "view-dpi-huge",
    "view-dpi-memory",
)

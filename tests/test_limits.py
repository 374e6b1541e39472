"""Sizes are checked before memory is allocated (issue 15, item 4), and the Poisson
encoder's peak memory is about its bool output."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from encoders import poisson, rate
from snnsim import limits
from snnsim.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def _run_python(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


# --------------------------------------------------------------------------- limit settings
@pytest.mark.parametrize(
    "text, nbytes",
    [("64G", 64 * 1024**3), ("512MiB", 512 * 1024**2), ("1.5e9", 1_500_000_000), (4096, 4096), ("2k", 2048)],
)
def test_parse_size(text, nbytes):
    assert limits.parse_size(text) == nbytes


@pytest.mark.parametrize("bad", ["lots", "-1G", "0", "nanG", True, "1Q"])
def test_parse_size_refuses(bad):
    with pytest.raises(UserError, match="size such as 8G"):
        limits.parse_size(bad)


def test_limit_sources(monkeypatch):
    monkeypatch.delenv(limits.ENV_VAR, raising=False)
    assert limits.max_memory() == limits.physical_memory()
    monkeypatch.setenv(limits.ENV_VAR, "3G")
    assert limits.max_memory() == 3 * 1024**3
    with limits.memory_limit("1M"):
        assert limits.max_memory() == 1024**2
    assert limits.max_memory() == 3 * 1024**3
    monkeypatch.setenv(limits.ENV_VAR, "much")
    with pytest.raises(UserError, match=r"\$SNNSIM_MAX_MEMORY"):
        limits.max_memory()


def test_check_allocation_message_is_one_line():
    with pytest.raises(UserError) as info:
        limits.check_allocation(3 * 1024**3, "the thing", limit="1G")
    msg = str(info.value)
    assert msg == (
        "the thing would allocate 3 GiB, more than the memory limit of 1 GiB; raise the limit with "
        "--max-memory or $SNNSIM_MAX_MEMORY (e.g. --max-memory 64G) if this machine has the memory"
    )
    limits.check_allocation(1024**3, "the thing", limit="1G")  # at the limit: fine


def test_module_bytes_allocates_nothing():
    # 10^6 x 10^6 float32 = 4 TB: measured on the meta device
    assert limits.module_bytes(lambda: torch.nn.Linear(10**6, 10**6, bias=False)) == 4 * 10**12


# --------------------------------------------------------------------------- API
def test_poisson_refuses_huge_timesteps_before_allocating():
    with pytest.raises(UserError, match=r"Poisson spike trains of 1000000000000 steps x \[2, 3\] would allocate"):
        poisson(torch.rand(2, 3), 10**12)


def test_build_network_refuses_huge_layer_with_limit_and_option():
    from snnsim.core.spec import build_network

    spec = {
        "layers": [{"name": "in", "type": "input", "shape": [784]}, {"name": "h", "type": "if"}],
        "connections": [{"source": "in", "target": "h", "ops": [{"op": "linear", "out_features": 10**9}]}],
    }
    with pytest.raises(UserError, match=r"network .*would allocate 2\.86 TiB.*--max-memory"):
        build_network(spec)
    spec["connections"][0]["ops"][0]["out_features"] = 1000
    with limits.memory_limit("1M"):  # 784x1000 float32 = 3.1 MB: over a 1 MiB limit
        with pytest.raises(UserError, match="limit of 1 MiB"):
            build_network(spec)
    build_network(spec)


def test_build_ann_refuses_huge_input():
    from snnsim.training.ann import build_ann

    with pytest.raises(UserError, match=r"the fc ANN's weights would allocate"):
        build_ann("fc", input_shape=[1, 100_000, 100_000])


# --------------------------------------------------------------------------- CLI
def _sealed_checkpoints(tmp: Path) -> tuple[Path, Path]:
    """A network.json with a 10^9-neuron layer and an ann.json with input [1, 100000, 100000],
    both correctly sealed (as a crafted or foreign file would be)."""
    from snnsim.core.io import SPEC_FILE, read_checkpoint, save_network, write_sealed
    from snnsim.core.spec import build_network
    from snnsim.training.ann import ANN_CONFIG, ANN_WEIGHTS, ann_fc, save_ann

    net_dir, ann_dir = tmp / "net", tmp / "ann"
    spec = {
        "layers": [
            {"name": "in", "type": "input", "shape": [1, 8, 8]},
            {"name": "h", "type": "if"},
            {"name": "out", "type": "integrator"},
        ],
        "connections": [
            {"source": "in", "target": "h", "ops": [{"op": "linear", "out_features": 5}]},
            {"source": "h", "target": "out", "ops": [{"op": "linear", "out_features": 10}]},
        ],
    }
    save_network(build_network(spec), net_dir)
    meta, blobs = read_checkpoint(net_dir)
    body = {k: v for k, v in meta.items() if k not in ("files", "sha256")}
    body["spec"]["layers"][1]["shape"] = [10**9]
    body["spec"]["connections"][0]["ops"][0]["out_features"] = 10**9
    write_sealed(net_dir / SPEC_FILE, body, blobs)
    save_ann(ann_fc(hidden=(4,)), directory=ann_dir)
    cfg = json.loads((ann_dir / ANN_CONFIG).read_text())
    cfg = {k: v for k, v in cfg.items() if k not in ("files", "sha256")}
    cfg["input_shape"] = [1, 100_000, 100_000]
    write_sealed(ann_dir / ANN_CONFIG, cfg, {ANN_WEIGHTS: (ann_dir / ANN_WEIGHTS).read_bytes()})
    return net_dir, ann_dir


def test_cli_refuses_huge_sizes_quickly_without_allocating(tmp_path):
    """Each command answers exit 2 with one line naming the size, the limit and --max-memory;
    the process's peak RSS stays far below the sizes asked for (imports take ~1 GB)."""
    net_dir, ann_dir = _sealed_checkpoints(tmp_path)
    out = tmp_path / "out"
    cases = [
        ["simulate", "--checkpoint", str(net_dir), "--out", str(out)],
        ["simulate", "-T", "1000000000000", "--out", str(out)],
        ["train", "--method", "lif", "--hidden", "1000000000", "--epochs", "1", "--out", str(out)],
        ["train-ann", "--hidden", "1000000000", "--epochs", "1", "--out", str(out)],
        ["convert", "--ann", str(ann_dir), "--out", str(out)],
    ]
    proc = _run_python(f"""
        import contextlib, io, json, re, time
        from pathlib import Path
        from snnsim.cli import main

        def peak_kb():  # this process's own peak RSS: ru_maxrss would include the forking parent's
            return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))

        for argv in {cases!r}:
            err = io.StringIO()
            t0 = time.perf_counter()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                rc = main(argv + ["--no-progress"])
            print(json.dumps({{"rc": rc, "err": err.getvalue(), "s": time.perf_counter() - t0,
                              "maxrss_kb": peak_kb()}}))
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == len(cases)
    for argv, row in zip(cases, rows):
        lines = row["err"].strip().splitlines()
        assert row["rc"] == 2 and len(lines) == 1, (argv, row)
        assert "would allocate" in lines[0] and "--max-memory" in lines[0], (argv, lines)
        assert row["s"] < 30, (argv, row)
        assert row["maxrss_kb"] < 3 * 1024**2, (argv, row)  # < 3 GiB, against TiB-size requests


def test_cli_max_memory_option(tmp_path, capsys):
    from snnsim.cli import main

    argv = ["simulate", "-T", "5", "--limit", "10", "--no-progress", "--out", str(tmp_path / "o")]
    try:
        assert main(argv + ["--max-memory", "1K"]) == 2
        assert "limit of 1 KiB" in capsys.readouterr().err
        assert main(argv + ["--max-memory", "lots"]) == 2
        assert "--max-memory must be a size such as 8G" in capsys.readouterr().err
    finally:
        limits.set_max_memory(None)  # the CLI sets the limit for the whole process
    assert main(argv + ["--max-memory", "64G"]) == 0


# --------------------------------------------------------------------------- Poisson encoder
def _single_draw(x: torch.Tensor, timesteps: int, scale: float, generator: torch.Generator) -> torch.Tensor:
    """The encoder before chunking: one torch.rand call for all T steps."""
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    u = torch.rand((timesteps, *x.shape), generator=generator, device=x.device, dtype=dtype)
    return u < (x.to(dtype) * scale).unsqueeze(0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("chunk_bytes", [1, 200, 10**9])
def test_chunked_poisson_equals_single_draw(monkeypatch, dtype, chunk_bytes):
    monkeypatch.setattr(rate, "CHUNK_BYTES", chunk_bytes)
    x = torch.rand(3, 5, 7, generator=torch.Generator().manual_seed(1)).to(dtype)
    for steps in (1, 9, 40):
        got = poisson(x, steps, prob_scale=0.7, generator=torch.Generator().manual_seed(3))
        want = _single_draw(x, steps, 0.7, torch.Generator().manual_seed(3))
        assert got.dtype == torch.bool and torch.equal(got, want)


def test_chunked_poisson_peak_memory_is_about_the_bool_output():
    """T=2000, x [100, 1000]: bool output 200 MB; the single float32 draw took 800 MB more.
    The growth of the peak RSS (Linux VmHWM, reset just before the call through
    /proc/self/clear_refs) must stay below output + 2 chunks + 40 MB slack."""
    proc = _run_python("""
        import torch
        from encoders import poisson
        from encoders.rate import CHUNK_BYTES

        def status_kb(key):
            line = next(ln for ln in open("/proc/self/status") if ln.startswith(key + ":"))
            return int(line.split()[1])

        x = torch.rand(100, 1000)
        poisson(x, 3, prob_scale=0.5)  # warm-up
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # peak RSS := current RSS
        before_kb = status_kb("VmHWM")
        out = poisson(x, 2000, prob_scale=0.5)
        print(out.numel(), (status_kb("VmHWM") - before_kb) * 1024, CHUNK_BYTES)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out_bytes, grown, chunk = (int(v) for v in proc.stdout.split())
    assert out_bytes == 2000 * 100 * 1000
    assert grown < out_bytes + 2 * chunk + 40 * 1024**2, (grown, out_bytes)
    assert grown >= out_bytes * 0.9  # the measurement sees the output itself

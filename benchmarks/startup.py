"""Start-up time of the command line: ``snnsim --help`` vs ``python -c "import torch"``.

Both run as fresh processes of this interpreter; the median of ``--repeats`` runs (after one
warm-up each, so the file cache is warm) is reported, with the ratio help / import torch.
Target (issue 14): at most 0.5, i.e. ``--help`` imports neither torch nor BindsNET.

Run: ``.venv/bin/python benchmarks/startup.py [--repeats 5] [--out benchmarks/results/startup.json]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import cpu_info, machine_info, time_call, write_json

COMMANDS = {
    "snnsim_help": [sys.executable, "-m", "snnsim", "--help"],
    "snnsim_version": [sys.executable, "-m", "snnsim", "--version"],
    "import_torch": [sys.executable, "-c", "import torch"],
}


def run_quiet(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "startup.json"))
    args = ap.parse_args()
    times = {name: time_call(lambda c=cmd: run_quiet(c), repeats=args.repeats) for name, cmd in COMMANDS.items()}
    ratio = times["snnsim_help"]["median_s"] / times["import_torch"]["median_s"]
    for name, t in times.items():
        print(f"{name:>15}: median {t['median_s']:.3f} s (min {t['min_s']:.3f} s, {t['repeats']} runs)")
    print(f"snnsim --help / import torch = {ratio:.3f} (target <= 0.5)")
    import torch

    payload = {
        "benchmark": "startup",
        **machine_info(torch.get_num_threads()),
        **cpu_info(),
        "commands": {k: " ".join(Path(c).name if i == 0 else c for i, c in enumerate(v)) for k, v in COMMANDS.items()},
        "times": times,
        "help_over_import_torch": ratio,
        "target_ratio": 0.5,
    }
    print(f"wrote {write_json(args.out, payload)}")


if __name__ == "__main__":
    main()

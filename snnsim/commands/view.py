"""``snnsim view RUN_DIR``: the interactive spike raster viewer on a run's record.pt."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .common import CLIError, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="browse the spike rasters of a run interactively",
                       description="Open the raster viewer on RUN_DIR/record.pt: sample slider (up/down keys), "
                                   "time-window slider (left/right keys), layer check boxes, toolbar zoom/pan. "
                                   "With --save it renders the view to a file instead (no display needed).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory with record.pt (e.g. from snnsim simulate --out)")
    p.add_argument("--sample", type=int, default=0, help="sample shown first (default 0)")
    p.add_argument("--layers", nargs="+", default=None, help="layers shown first (default all)")
    p.add_argument("--window", nargs=2, type=int, metavar=("T0", "T1"), default=None,
                   help="time steps shown first, T0 <= t < T1 (default all)")
    p.add_argument("--save", default=None, metavar="FILE",
                   help="render the view to FILE (.png or .svg) instead of opening a window")
    p.add_argument("--dpi", type=positive_int, default=120, help="resolution of --save PNGs (default 120)")
    p.set_defaults(func=run)


def display_problem() -> str | None:
    """Why no interactive window can open here (None if one can)."""
    import matplotlib
    from matplotlib.backends import BackendFilter, backend_registry

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY/WAYLAND_DISPLAY unset)"
    backend = matplotlib.get_backend()
    gui = {b.lower() for b in backend_registry.list_builtin(BackendFilter.INTERACTIVE)}
    if backend.lower() not in gui and not backend.startswith("module://"):
        return f"matplotlib backend {backend!r} is not interactive (set MPLBACKEND, e.g. TkAgg or QtAgg)"
    return None


def run(args: argparse.Namespace) -> int:
    if args.save is None:
        why = display_problem()
        if why:
            raise CLIError(f"cannot open the viewer: {why}; use --save FILE.png to render it to a file")
    from analysis.rundir import load_run
    from analysis.viewer import RasterViewer

    run_data = load_run(args.run_dir)
    viewer = RasterViewer(run_data.need_record(), run_data.labels, layers=args.layers,
                          window=tuple(args.window) if args.window else None)
    try:
        viewer.set_sample(args.sample)
        if args.save is not None:
            path = Path(args.save)
            if path.suffix.lower() not in (".png", ".svg"):
                raise CLIError(f"--save needs a .png or .svg file name, got {args.save}")
            viewer.fig.savefig(path, dpi=args.dpi)
            print(path)
        else:
            viewer.show()
    finally:
        viewer.close()
    return 0

"""``snnsim view RUN_DIR``: the interactive spike raster viewer on a run's record.pt
(a matplotlib window, a PNG/SVG with ``--save``, or a self-contained HTML page with ``--html``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from snnsim.errors import UserError


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


def write_html(args: argparse.Namespace) -> int:
    """``--html FILE``: the self-contained interactive page (analysis.html_viewer); prints
    the file, its size and what it holds."""
    from analysis.html_viewer import view

    if args.save is not None:
        raise UserError("--html and --save are exclusive: pick one output")
    kwargs = {} if getattr(args, "max_spikes", None) is None else {"max_spikes": args.max_spikes}
    if getattr(args, "max_neurons", None) is not None:
        kwargs["max_neurons"] = args.max_neurons
    page = view(
        args.run_dir,
        sample=args.sample,
        layers=args.layers,
        window=tuple(args.window) if args.window else None,
        **kwargs,
    )
    try:
        size = page.write(args.html)
    except OSError as err:
        raise UserError(f"--html {args.html}: cannot write this file ({err.strerror or err})") from None
    vd = page.data
    print(
        f"{args.html} ({size / 1e6:.1f} MB: {vd.n_spikes} spikes of {len(vd.samples)} of {vd.n_samples} samples, "
        f"{len(vd.names)} layers{', first-spike view' if vd.ttfs else ''})"
    )
    for note in vd.notes:
        print(f"note: {note}")
    return 0


#: matplotlib's Agg renderer draws at most this many pixels a side
MAX_PIXELS_A_SIDE = 2**23 - 1


def check_image_size(fig: Any, dpi: int) -> None:
    """Refuse (one line) a ``--dpi`` whose image matplotlib cannot draw or memory cannot hold."""
    from snnsim.limits import check_allocation

    width, height = (float(v) * dpi for v in fig.get_size_inches())
    if max(width, height) > MAX_PIXELS_A_SIDE:
        most = int(MAX_PIXELS_A_SIDE / max(fig.get_size_inches()))
        raise UserError(
            f"--dpi {dpi}: the image would be {width:.0f}x{height:.0f} pixels, more than the "
            f"{MAX_PIXELS_A_SIDE} a side matplotlib draws; use --dpi {most} or less (e.g. 300)"
        )
    check_allocation(4 * width * height, f"--dpi {dpi}: a {width:.0f}x{height:.0f}-pixel image")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "html", None) is not None:
        return write_html(args)
    if args.save is None:
        why = display_problem()
        if why:
            raise UserError(
                f"cannot open the viewer: {why}; use --html FILE.html for an interactive page "
                "or --save FILE.png to render it to a file"
            )
    from analysis.rundir import load_run
    from analysis.viewer import RasterViewer

    run_data = load_run(args.run_dir)
    viewer = RasterViewer(
        run_data.need_record(), run_data.labels, layers=args.layers, window=tuple(args.window) if args.window else None
    )
    try:
        viewer.set_sample(args.sample)
        if args.save is not None:
            path = Path(args.save)
            if path.suffix.lower() not in (".png", ".svg"):
                raise UserError(f"--save needs a .png or .svg file name, got {args.save}")
            check_image_size(viewer.fig, args.dpi)
            try:
                viewer.fig.savefig(path, dpi=args.dpi)
            except OSError as err:
                raise UserError(f"--save {args.save}: cannot write this file ({err.strerror or err})") from None
            print(path)
        else:
            viewer.show()
    finally:
        viewer.close()
    return 0

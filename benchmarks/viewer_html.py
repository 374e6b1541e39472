"""HTML raster with one million spikes: plotly (scattergl) vs bokeh (WebGL), file size and speed.

The same synthetic raster (5 layers x 2,000 neurons x 1,000 steps, rate 0.1: about 1e6
spikes of one sample) is written by each library as one self-contained file (library
inlined) and loaded in headless Chromium (SwiftShader WebGL, network off). Reported per
library: seconds to build and write, file size, seconds from navigation until the plot
reports it is drawn, and the snnsim viewer itself (all panels) on the same record.

Run: ``.venv/bin/python benchmarks/viewer_html.py`` (needs plotly, bokeh, selenium, chromium).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.html_viewer import view
from snnsim.engine import Record
from tests.browser import chrome, wait_drawn

LAYERS, NEURONS, STEPS, RATE = 5, 2000, 1000, 0.1


def raster() -> Record:
    """One sample, ``LAYERS`` layers of ``[STEPS, 1, NEURONS]`` Bernoulli(RATE) spikes."""
    g = torch.Generator().manual_seed(0)
    return Record({f"l{i}": torch.rand(STEPS, 1, NEURONS, generator=g) < RATE for i in range(LAYERS)})


def plotly_file(rec: Record, path: Path) -> None:
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, s in rec.spikes.items():
        t, n = s[:, 0].nonzero(as_tuple=True)
        fig.add_trace(
            go.Scattergl(
                x=t.numpy().astype(np.uint16),
                y=n.numpy().astype(np.uint16),
                mode="markers",
                name=name,
                marker={"size": 2},
            )
        )
    fig.write_html(path, include_plotlyjs=True, div_id="plot")


def bokeh_file(rec: Record, path: Path) -> None:
    from bokeh.embed import file_html
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    p = figure(output_backend="webgl", width=1000, height=700, name="plot")
    for name, s in rec.spikes.items():
        t, n = s[:, 0].nonzero(as_tuple=True)
        p.scatter(t.numpy().astype(np.uint16), n.numpy().astype(np.uint16), size=2, legend_label=name)
    path.write_text(file_html(p, INLINE, "bench"), encoding="utf-8")


def main() -> None:
    rec = raster()
    n_spikes = sum(int(s.sum()) for s in rec.spikes.values())
    out = Path(tempfile.mkdtemp())
    makers = {
        "plotly": plotly_file,
        "bokeh": bokeh_file,
        "snnsim viewer (plotly, all panels)": lambda r, p: view(r, max_spikes=2 * n_spikes).write(p),
    }
    driver = chrome()
    try:
        for name, make in makers.items():
            path = out / f"{name.split()[0]}_{len(name)}.html"
            t0 = time.perf_counter()
            make(rec, path)
            built = time.perf_counter() - t0
            t0 = time.perf_counter()
            driver.get(path.as_uri())
            wait_drawn(driver, bokeh=name == "bokeh")
            loaded = time.perf_counter() - t0
            print(
                f"{name}: {n_spikes} spikes, build+write {built:.2f} s, {path.stat().st_size / 1e6:.1f} MB, "
                f"load+draw in Chromium {loaded:.2f} s"
            )
    finally:
        driver.quit()


if __name__ == "__main__":
    main()

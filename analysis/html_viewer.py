"""Interactive spike viewer as one self-contained HTML file (plotly, WebGL), or inline in a notebook.

::

    from analysis import view
    v = view("runs/sim")            # a run directory, a record.pt, a Record or record(...) result
    v                               # in Jupyter: the viewer inline
    v.write("runs/sim/view.html")   # one file, plotly.js inlined: opens offline in any browser

The page holds one raster row per layer (``scattergl``: WebGL, smooth with a million
spikes; hover gives layer, neuron and time step), spikes per step, membrane-potential
traces (layers recorded with voltages), mean firing rate per layer and, for TTFS runs,
the first-spike-time histogram. The dropdown picks the sample (it swaps the data of every
panel); clicking a layer in the legend hides or shows all of that layer's traces; the
toolbar zooms and pans, all time axes together. No script outside plotly.js is used.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch

from analysis.raster import MAX_NEURONS
from analysis.rundir import RunData, load_record, load_run
from analysis.viewer_data import MAX_SPIKES, SampleData, ViewerData, viewer_data
from snnsim import plugins
from snnsim.argcheck import as_path
from snnsim.engine import Record
from snnsim.errors import UserError, UserTypeError

#: matplotlib's tab10, so that layers have the colours of the PNG plots (``C0``...).
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")
ROW_PX = 130  # pixels of a subplot row of height 1 (see _layout's heights)


def _go() -> Any:
    """``plotly.graph_objects``, or a one-line UserError saying how to install it."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise UserError("the HTML viewer needs plotly: pip install plotly (or pip install 'snnsim[viewer]')") from None
    return go


def typed(a: np.ndarray) -> dict[str, str]:
    """plotly.js typed-array spec (base64 of the smallest fitting integer type, else float32)."""
    a = np.asarray(a)
    if a.dtype.kind in "iub":
        top = int(a.max()) if a.size else 0
        a = a.astype("<u1" if top < 256 else "<u2" if top < 65536 else "<u4")
    else:
        a = a.astype("<f4")
    code = {"u1": "u1", "u2": "u2", "u4": "u4", "f4": "f4"}[a.dtype.str[1:]]
    return {"dtype": code, "bdata": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")}


@dataclass
class Layout:
    """Which subplot row holds which panel (1-based rows of a 2-column grid)."""

    raster: dict[str, int]
    counts: int
    traces: Optional[int]
    bottom: int
    heights: list[float]


def _layout(vd: ViewerData) -> Layout:
    rows = {n: i + 1 for i, n in enumerate(vd.names)}
    heights = [max(1.0, min(3.0, vd.shown[n] / 400)) for n in vd.names] + [1.0]
    traces = None
    if any(d.traces for d in vd.data.values()):
        traces = len(heights) + 1
        heights.append(1.2)
    heights.append(1.3)
    return Layout(rows, len(vd.names) + 1, traces, len(heights), heights)


def _sample_columns(vd: ViewerData, d: SampleData) -> list[dict[str, Any]]:
    """Per trace, in figure order, the data that changes with the sample (every one has
    the same keys but ``x``-only histograms, and a ``name``: one restyle sets them all)."""
    cols: list[dict[str, Any]] = []
    steps = np.arange(vd.timesteps)
    for n in vd.names:
        t, i = d.raster[n]
        # a silent layer gets one null point: plotly drops empty traces from the legend
        xy = {"x": typed(t), "y": typed(i)} if t.size else {"x": [None], "y": [None]}
        cols.append({**xy, "name": n})
    for n in vd.names:
        cols.append({"x": typed(steps), "y": typed(d.counts[n]), "name": n})
    for n in vd.names:
        if n in d.traces:
            idx, v = d.traces[n]
            cols += [{"x": typed(steps), "y": typed(v[:, j]), "name": f"{n}[{i}]"} for j, i in enumerate(idx)]
    for n in vd.names:
        cols.append({"x": [n], "y": [d.rates[n]], "name": n})
    if vd.ttfs:
        for n in vd.names:
            cols.append({"x": typed(d.first_spikes[n]), "name": n})
    return cols


def _title(vd: ViewerData, b: int) -> str:
    label = f", label {vd.labels[b]}" if vd.labels is not None else ""
    return f"sample {b}{label}: {vd.data[b].n_spikes} spikes drawn"


def _traces(go: Any, vd: ViewerData, lay: Layout, b: int) -> list[tuple[Any, int, int]]:
    """(trace, row, col) of every trace, with sample ``b``'s data, in :func:`_sample_columns` order."""
    d, out = vd.data[b], []
    color = {n: COLORS[i % len(COLORS)] for i, n in enumerate(vd.names)}
    hover = "%{fullData.name}<br>neuron %{y}<br>step %{x}<extra></extra>"
    for n in vd.names:
        row_px = ROW_PX * lay.heights[lay.raster[n] - 1] / vd.shown[n]  # pixels per neuron row
        out.append(
            (
                go.Scattergl(
                    name=n,
                    legendgroup=n,
                    mode="markers",
                    hovertemplate=hover,
                    marker={"symbol": "square", "size": min(4.0, max(1.5, row_px)), "color": color[n]},
                ),
                lay.raster[n],
                1,
            )
        )
    for n in vd.names:
        out.append(
            (
                go.Scatter(
                    name=n,
                    legendgroup=n,
                    showlegend=False,
                    mode="lines",
                    line={"color": color[n]},
                    hovertemplate=n + ": %{y} spikes at step %{x}<extra></extra>",
                ),
                lay.counts,
                1,
            )
        )
    for n in vd.names:
        for j in range(len(d.traces[n][0]) if n in d.traces else 0):
            out.append(
                (
                    go.Scatter(
                        legendgroup=n,
                        showlegend=False,
                        mode="lines",
                        line={"color": color[n], "dash": DASHES[j % len(DASHES)], "width": 1},
                        hovertemplate="%{fullData.name}: v=%{y:.3f} at step %{x}<extra></extra>",
                    ),
                    lay.traces,
                    1,
                )
            )
    for n in vd.names:
        out.append(
            (
                go.Bar(
                    name=n,
                    legendgroup=n,
                    showlegend=False,
                    marker_color=color[n],
                    hovertemplate=n + ": %{y:.4f} spikes/neuron/step<extra></extra>",
                ),
                lay.bottom,
                1,
            )
        )
    if vd.ttfs:
        for n in vd.names:
            out.append(
                (
                    go.Histogram(
                        name=n,
                        legendgroup=n,
                        showlegend=False,
                        marker_color=color[n],
                        opacity=0.7,
                        xbins={"start": -0.5, "end": vd.timesteps - 0.5, "size": 1},
                    ),
                    lay.bottom,
                    2,
                )
            )
    for (tr, _, _), col in zip(out, _sample_columns(vd, d)):
        tr.update(col)
    return out


def _menu(vd: ViewerData, sample: int) -> dict[str, Any]:
    """The sample dropdown: each button restyles every trace with that sample's data."""
    buttons = []
    for b in vd.samples:
        cols = _sample_columns(vd, vd.data[b]) if len(vd.samples) > 1 else []  # one sample: nothing to swap
        keys = sorted({k for c in cols for k in c})
        update = {k: [c.get(k) for c in cols] for k in keys}
        buttons.append(
            {"method": "update", "label": _title(vd, b).split(":")[0], "args": [update, {"title.text": _title(vd, b)}]}
        )
    return {
        "buttons": buttons,
        "active": vd.samples.index(sample),
        "x": 0.0,
        "xanchor": "left",
        "y": 1.0,
        "yanchor": "bottom",
        "pad": {"t": 4, "b": 4},
        "name": "sample",
    }


def build_figure(
    vd: ViewerData, sample: int, layers: Optional[Sequence[str]] = None, window: Optional[tuple[int, int]] = None
) -> Any:
    """The plotly Figure of ``vd`` showing ``sample``; ``layers`` visible at start (others
    toggled off in the legend); ``window``: steps ``(t0, t1)`` shown at start."""
    go = _go()
    from plotly.subplots import make_subplots

    lay = _layout(vd)
    n_rows = len(lay.heights)
    specs = [[{"colspan": 2}, None] for _ in range(n_rows - 1)] + [[{}, {} if vd.ttfs else None]]
    titles = [
        f"{n}: {vd.shown[n]} of {vd.sizes[n]} neurons shown" if vd.shown[n] < vd.sizes[n] else "" for n in vd.names
    ] + ["spikes per step (all neurons)"]
    titles += ["membrane potential (most active neurons)"] if lay.traces else []
    titles += ["mean firing rate (spikes / neuron / step)"] + (["first-spike time (step)"] if vd.ttfs else [])
    fig = make_subplots(
        rows=n_rows, cols=2, specs=specs, row_heights=lay.heights, vertical_spacing=0.035, subplot_titles=titles
    )
    for tr, row, col in _traces(go, vd, lay, sample):
        fig.add_trace(tr, row=row, col=col)
    time_rows = list(lay.raster.values()) + [lay.counts] + ([lay.traces] if lay.traces else [])
    t0, t1 = window if window is not None else (0, vd.timesteps)
    for r in time_rows:
        fig.update_xaxes(matches="x", range=[t0 - 0.5, t1 - 0.5], row=r, col=1)
    fig.update_xaxes(title_text=f"time step (dt = {vd.dt:g} ms)", row=time_rows[-1], col=1)
    for n, r in lay.raster.items():
        fig.update_yaxes(range=[vd.sizes[n] - 0.5, -0.5], title_text=n, row=r, col=1)
    hidden = set(vd.names) - set(layers if layers is not None else vd.names)
    fig.for_each_trace(lambda t: t.update(visible="legendonly") if t.legendgroup in hidden else None)
    fig.update_layout(
        height=int(150 + ROW_PX * sum(lay.heights)),
        template="plotly_white",
        dragmode="zoom",
        title={"text": _title(vd, sample), "x": 0.5},
        updatemenus=[_menu(vd, sample)],
        legend={"title": {"text": "layers (click)"}},
        margin={"t": 90},
        uirevision="keep",
        meta={"snnsim_samples": vd.samples, "notes": vd.notes},
    )
    if vd.notes:
        fig.add_annotation(
            text="; ".join(vd.notes),
            xref="paper",
            yref="paper",
            x=1.0,
            y=1.0,
            yshift=40,
            showarrow=False,
            font={"size": 10, "color": "#555"},
            xanchor="right",
        )
    return fig


@dataclass
class HtmlView:
    """The viewer of one record: :attr:`figure` (plotly) and what it holds."""

    figure: Any
    data: ViewerData
    extra: tuple = ()  # more plotly figures below the viewer (an STDP run's receptive fields)

    def to_html(self) -> str:
        """One self-contained page: plotly.js inlined, no network needed."""
        page = self.figure.to_html(
            include_plotlyjs=True,
            full_html=True,
            div_id="snnsim-viewer",
            config={"scrollZoom": True, "displaylogo": False, "responsive": True},
        )
        if not self.extra:
            return page
        divs = "".join(
            f.to_html(include_plotlyjs=False, full_html=False, div_id=f"snnsim-extra-{k}")
            for k, f in enumerate(self.extra)
        )
        return page.replace("</body>", divs + "</body>", 1)

    def write(self, path: Union[str, Path]) -> int:
        """Write :meth:`to_html` to ``path`` (parents created); returns its size in bytes."""
        path = as_path(path, "path")
        if path.suffix.lower() not in (".html", ".htm"):
            raise UserError(f"the viewer is written as .html, got {str(path)!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path.stat().st_size

    def _repr_html_(self) -> str:
        """The page in an ``<iframe srcdoc>``: renders in any notebook front end, offline."""
        height = int(self.figure.layout.height or 800) + 30
        return (
            f'<iframe srcdoc="{html.escape(self.to_html(), quote=True)}" '
            f'style="width: 100%; height: {height}px; border: 0"></iframe>'
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Notebooks: plotly's own mimetype (JupyterLab, VS Code draw it natively) and the
        iframe for front ends without plotly's renderer."""
        return {"application/vnd.plotly.v1+json": self.figure.to_plotly_json(), "text/html": self._repr_html_()}


def _as_record(source: Any) -> tuple[Record, Optional[torch.Tensor], dict[str, Any]]:
    """(record, labels, report) from a Record, a RunData, a run directory or a record.pt file."""
    if isinstance(source, Record):
        return source, None, {}
    if isinstance(source, RunData):
        return source.need_record(), source.labels, source.report
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_file():
            rec, labels = load_record(path)
            return rec, labels, {}
        run = load_run(path)
        return run.need_record(), run.labels, run.report
    raise UserTypeError(
        f"view needs a Record (e.g. from analysis.record), a run directory or a record.pt, got {type(source).__name__}"
    )


def view(
    source: Union[Record, RunData, str, Path],
    *,
    labels: Optional[Any] = None,
    sample: int = 0,
    layers: Optional[Sequence[str]] = None,
    window: Optional[tuple[int, int]] = None,
    max_neurons: Optional[int] = MAX_NEURONS,
    max_spikes: int = MAX_SPIKES,
    ttfs: Optional[bool] = None,
) -> HtmlView:
    """The interactive viewer of ``source``: a :class:`Record` (``analysis.record(...)``'s
    result too), a :class:`RunData`, a run directory or a ``record.pt`` file.

    ``labels``: class per sample ``[B]`` (default the run's); ``layers``: shown at start
    (all are included); ``window``: steps ``(t0, t1)`` shown at start; ``max_neurons``: see
    :func:`analysis.raster.shown_neurons`; ``max_spikes``: spike budget of the page (see
    :func:`analysis.viewer_data.viewer_data`); ``ttfs``: first-spike panel (None: for runs
    of ``--method ttfs`` and records that look like TTFS). Display it in a notebook, or
    :meth:`HtmlView.write` it.
    """
    record, run_labels, report = _as_record(source)
    if ttfs is None and report.get("method") == "ttfs":
        ttfs = True
    vd = viewer_data(
        record,
        run_labels if labels is None else labels,
        layers=None,
        sample=sample,
        max_neurons=max_neurons,
        max_spikes=max_spikes,
        ttfs=ttfs,
    )
    if layers is not None:
        layers = [layers] if isinstance(layers, str) else list(layers)
        bad = [n for n in layers if n not in vd.names]
        if bad or not layers:
            raise UserError(f"layers {bad} were not recorded; recorded: {vd.names}")
    if window is not None:
        t0, t1 = (int(v) for v in window)
        if not 0 <= t0 < t1 <= vd.timesteps:
            raise UserError(f"window must be (t0, t1) steps with 0 <= t0 < t1 <= {vd.timesteps}, got {tuple(window)}")
        window = (t0, t1)
    return HtmlView(build_figure(vd, sample, layers, window), vd, _extra_figures(source, report))


def _extra_figures(source: Any, report: dict[str, Any]) -> tuple:
    """Figures that a run's method adds to the page (declared in :mod:`snnsim.plugins` under
    ``viewer``, e.g. an STDP run's receptive fields)."""
    method = report.get("method")
    if plugins.module_of("viewer", method) is None or not isinstance(source, (str, Path, RunData)):
        return ()
    run_dir = source.path if isinstance(source, RunData) else Path(source)
    return plugins.load("viewer", method)(run_dir)

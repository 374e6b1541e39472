"""Interactive spike raster viewer: browse samples, time windows and layers.

Controls: the sample slider (or up/down arrow keys), the time-window range slider (or
left/right arrow keys, which move the window by its width), layer check boxes, and the
standard toolbar for zoom and pan. All layers share one scatter: each selected layer
gets a horizontal band (first layer at the top), so the drawn points are
``(t * dt, band position of the neuron)``; :meth:`RasterViewer.points` gives them back
as (layer, step, neuron) triples.

With a non-interactive backend (Agg) the viewer still builds and can be driven with
:meth:`set_sample`, :meth:`set_time_window`, :meth:`set_layers` and :meth:`key`, then
saved with :meth:`save`.
"""

from __future__ import annotations

from typing import Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.backend_bases import key_press_handler
from matplotlib.widgets import CheckButtons, RangeSlider, Slider

from analysis.plotting import PathLike, RecordLike, as_record, check_layers, layer_color, save_figure, time_label
from analysis.raster import marker_area
from snnsim.errors import UserError

MIN_BAND = 0.2  # smallest band, as a share of the tallest layer's


class RasterViewer:
    """Matplotlib raster browser over the samples of ``record``.

    Args:
        record: spikes ``[T, B, ...]`` of each layer.
        labels: optional class labels ``[B]`` shown in the title.
        layers: layers shown at start (default all).
        window: steps shown at start, ``(t0, t1)`` with ``t0 <= t < t1`` (default all).
    """

    def __init__(
        self,
        record: RecordLike,
        labels: Optional[torch.Tensor] = None,
        layers: Optional[Sequence[str]] = None,
        window: Optional[tuple[int, int]] = None,
    ) -> None:
        self.record = record = as_record(record)
        self.names = list(record.spikes)
        self.n_samples = record.batch_size
        self.n_steps = record.timesteps
        self.labels = None if labels is None else torch.as_tensor(labels).reshape(-1).tolist()
        if self.labels is not None and len(self.labels) != self.n_samples:
            raise UserError(f"labels has {len(self.labels)} entries for {self.n_samples} samples")
        self.sizes = {n: int(record.spikes[n][0, 0].numel()) for n in self.names}
        self._flat = {n: record.spikes[n].reshape(self.n_steps, self.n_samples, -1) for n in self.names}
        self.sample = 0
        self.t0, self.t1 = 0, self.n_steps
        self.selected = check_layers(self.names, layers)
        self._updating = False
        self.fig = plt.figure(figsize=(10, 6.5))
        self.ax = self.fig.add_axes((0.2, 0.2, 0.77, 0.72))
        self.scatter = self.ax.scatter([], [], s=6, marker="|", linewidths=0.8)
        ax_s = self.fig.add_axes((0.2, 0.08, 0.6, 0.03))
        ax_t = self.fig.add_axes((0.2, 0.03, 0.6, 0.03))
        self.sample_slider = Slider(ax_s, "sample", 0, max(self.n_samples - 1, 1), valinit=0, valstep=1, valfmt="%d")
        self.time_slider = RangeSlider(
            ax_t, "steps", 0, self.n_steps, valinit=(0, self.n_steps), valstep=1, valfmt="%d"
        )
        ax_c = self.fig.add_axes((0.01, 0.35, 0.12, min(0.5, 0.06 * len(self.names) + 0.04)))
        ax_c.set_title("layers", fontsize=8)
        self.checks = CheckButtons(ax_c, self.names, [n in self.selected for n in self.names])
        self.sample_slider.on_changed(self._on_sample)
        self.time_slider.on_changed(self._on_time)
        self.checks.on_clicked(self._on_check)
        manager = self.fig.canvas.manager
        if manager is not None and getattr(manager, "key_press_handler_id", None) is not None:
            self.fig.canvas.mpl_disconnect(manager.key_press_handler_id)  # our arrows, toolbar keys otherwise
        self.fig.canvas.mpl_connect("key_press_event", self._on_key)
        if window is not None:
            self.set_time_window(*window)
        self.redraw()

    # --- layout ---------------------------------------------------------------------
    def bands(self) -> dict[str, tuple[float, float]]:
        """Selected layer -> (y of its top edge, band height); neuron i sits at
        ``top + (i + 0.5) * height / size``. The first layer is at the top (y grows down)."""
        if not self.selected:
            return {}
        biggest = max(self.sizes[n] for n in self.selected)
        out, y = {}, 0.0
        for n in self.selected:
            h = float(max(self.sizes[n], MIN_BAND * biggest))
            out[n] = (y, h)
            y += h
        return out

    def points(self) -> list[tuple[str, int, int]]:
        """(layer, step, flat neuron) of every spike drawn now, in drawing order."""
        out = []
        for n in self.selected:
            s = self._flat[n][self.t0 : self.t1, self.sample]
            t, i = (s != 0).nonzero(as_tuple=True)
            out += [(n, int(a) + self.t0, int(b)) for a, b in zip(t.tolist(), i.tolist())]
        return out

    def offsets(self) -> np.ndarray:
        """The scatter's current points ``[N, 2]`` (time in ms, band position)."""
        return np.asarray(self.scatter.get_offsets())

    # --- programmatic control ---------------------------------------------------------
    def set_sample(self, i: int) -> None:
        """Show sample ``i`` (moves the slider)."""
        i = int(i)
        if not 0 <= i < self.n_samples:
            raise UserError(f"sample must be in [0, {self.n_samples - 1}], got {i}")
        self.sample_slider.set_val(i)

    def set_time_window(self, t0: int, t1: int) -> None:
        """Show steps ``t0 <= t < t1`` (moves the range slider)."""
        t0, t1 = int(t0), int(t1)
        if not 0 <= t0 < t1 <= self.n_steps:
            raise UserError(f"time window must satisfy 0 <= t0 < t1 <= {self.n_steps}, got ({t0}, {t1})")
        self.time_slider.set_val((t0, t1))

    def set_layers(self, layers: Sequence[str]) -> None:
        """Show exactly ``layers`` (ticks the check boxes)."""
        want = check_layers(self.names, layers)
        self._updating = True
        try:
            for i, n in enumerate(self.names):
                if (n in want) != self.checks.get_status()[i]:
                    self.checks.set_active(i)
        finally:
            self._updating = False
        self.selected = [n for n in self.names if n in want]
        self.redraw()

    def key(self, name: str) -> None:
        """Act on a key: "left"/"right" move the time window by its width, "up"/"down"
        change the sample, "home" shows all steps."""
        width = self.t1 - self.t0
        if name == "right":
            t1 = min(self.n_steps, self.t1 + width)
            self.set_time_window(t1 - width, t1)
        elif name == "left":
            t0 = max(0, self.t0 - width)
            self.set_time_window(t0, t0 + width)
        elif name == "up":
            self.set_sample(min(self.n_samples - 1, self.sample + 1))
        elif name == "down":
            self.set_sample(max(0, self.sample - 1))
        elif name == "home":
            self.set_time_window(0, self.n_steps)
        else:
            raise UserError(f"key must be one of left, right, up, down, home; got {name!r}")

    def save(self, path: PathLike) -> None:
        """Render the current view to ``path`` (.png or .svg)."""
        save_figure(self.fig, path)

    def show(self) -> None:
        """Open the window (needs an interactive backend)."""
        plt.show()

    def close(self) -> None:
        plt.close(self.fig)

    # --- callbacks ----------------------------------------------------------------------
    def _on_sample(self, val: float) -> None:
        self.sample = min(self.n_samples - 1, max(0, int(round(val))))
        self.redraw()

    def _on_time(self, val: tuple[float, float]) -> None:
        t0, t1 = int(round(val[0])), int(round(val[1]))
        if t1 <= t0:  # a zero-width range from dragging both handles together
            t1 = min(self.n_steps, t0 + 1)
            t0 = t1 - 1
        self.t0, self.t1 = t0, t1
        self.redraw()

    def _on_check(self, _label: Optional[str]) -> None:
        if self._updating:
            return
        status = self.checks.get_status()
        self.selected = [n for n, on in zip(self.names, status) if on]
        self.redraw()

    def _on_key(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.key in ("left", "right", "up", "down", "home"):
            self.key(event.key)
        else:
            canvas = self.fig.canvas
            key_press_handler(event, canvas, getattr(canvas, "toolbar", None))

    # --- drawing --------------------------------------------------------------------------
    def redraw(self) -> None:
        """Recompute the scatter for the current sample, window and layers."""
        dt = self.record.dt
        bands = self.bands()
        xs, ys, colors, sizes, ticks, names = [], [], [], [], [], []
        total = sum(h for _, h in bands.values()) or 1.0
        ax_pt = self.ax.get_position().height * self.fig.get_figheight() * 72
        for n in self.selected:
            top, h = bands[n]
            s = self._flat[n][self.t0 : self.t1, self.sample]
            t, i = (s != 0).nonzero(as_tuple=True)
            xs.append((t.double() + self.t0).numpy() * dt)
            ys.append(top + (i.double().numpy() + 0.5) * h / self.sizes[n])
            colors += [layer_color(self.names.index(n))] * t.numel()
            sizes += [marker_area(h / self.sizes[n] / total * ax_pt)] * t.numel()
            ticks.append(top + h / 2)
            names.append(f"{n}\n({self.sizes[n]})")
        x = np.concatenate(xs) if xs else np.zeros(0)
        y = np.concatenate(ys) if ys else np.zeros(0)
        self.scatter.set_offsets(np.column_stack([x, y]) if x.size else np.zeros((0, 2)))
        self.scatter.set_color(colors if colors else "black")
        self.scatter.set_sizes(np.array(sizes) if sizes else np.array([6.0]))
        col_pt = self.ax.get_position().width * self.fig.get_figwidth() * 72 / (self.t1 - self.t0)
        self.scatter.set_linewidth(min(2.0, max(0.5, 0.5 * col_pt)))
        for line in list(self.ax.lines):
            line.remove()
        for n in self.selected[1:]:
            self.ax.axhline(bands[n][0], color="0.7", lw=0.6)
        self.ax.set_ylim(total, 0)
        self.ax.set_yticks(ticks, names, fontsize=8)
        self.ax.set_xlim((self.t0 - 0.5) * dt, (self.t1 - 0.5) * dt)
        self.ax.set_xlabel(time_label(dt))
        label = f", label {self.labels[self.sample]}" if self.labels is not None else ""
        self.ax.set_title(
            f"sample {self.sample}/{self.n_samples - 1}{label}: {x.size} spikes in steps [{self.t0}, {self.t1})",
            fontsize=10,
        )
        self.fig.canvas.draw_idle()

"""Analysis of spiking runs: recording, rates, SynOps/energy, plots and a raster viewer.

- :mod:`.recording`: ``record(network, ...)`` context manager collecting every ``simulate``.
- :mod:`.raster`, :mod:`.rates`, :mod:`.traces`, :mod:`.accuracy`: data
  functions and the matplotlib figures built on them (each returns the Figure and saves
  PNG/SVG when given ``path``).
- :mod:`.synops`: fan-out, SynOps, ANN MACs and energy estimates.
- :mod:`.viewer`: ``RasterViewer``, interactive (sliders, layer boxes, arrow keys).
- :mod:`.html_viewer`: ``view(record_or_run_dir)``, the same in a browser or notebook (plotly,
  one self-contained HTML file; data from :mod:`.viewer_data`).
- :mod:`.rundir`: read a run directory (report.json, record.pt).

- :mod:`.first_spikes`: first-spike times and their histograms (TTFS's plots).
- :mod:`.learning`: learning curves (held-out accuracy per epoch) of several runs, grouped by label
  (``python -m analysis.learning``; import it as ``analysis.learning``).
"""

import snnsim  # noqa: F401  (first: its import guard keeps warnings alive when BindsNET loads)
from analysis.accuracy import accuracy_curves, confusion_matrix, plot_accuracy_vs_time, plot_confusion_matrix
from analysis.first_spikes import first_spike_times, plot_first_spike_times, ttfs_histogram_data
from analysis.html_viewer import HtmlView, view
from analysis.raster import plot_raster, raster_points, shown_neurons
from analysis.rates import (
    firing_rates,
    neuron_rates,
    plot_firing_rates,
    plot_rate_histogram,
    rate_histogram_data,
    rates_from_counts,
    rates_from_report,
)
from analysis.recording import Recording, RecordingLimitError, estimate_bytes, record
from analysis.rundir import RunData, load_record, load_run, save_record
from analysis.synops import E_AC, E_MAC, ann_macs, connection_macs, energy, energy_report, fanout, synops
from analysis.traces import layer_thresholds, pick_neurons, plot_traces, trace_data
from analysis.viewer import RasterViewer

__all__ = [
    "record",
    "Recording",
    "RecordingLimitError",
    "estimate_bytes",
    "raster_points",
    "plot_raster",
    "shown_neurons",
    "firing_rates",
    "neuron_rates",
    "rates_from_counts",
    "rates_from_report",
    "rate_histogram_data",
    "plot_firing_rates",
    "plot_rate_histogram",
    "layer_thresholds",
    "pick_neurons",
    "trace_data",
    "plot_traces",
    "first_spike_times",
    "ttfs_histogram_data",
    "plot_first_spike_times",
    "accuracy_curves",
    "plot_accuracy_vs_time",
    "confusion_matrix",
    "plot_confusion_matrix",
    "fanout",
    "synops",
    "ann_macs",
    "connection_macs",
    "energy",
    "energy_report",
    "E_AC",
    "E_MAC",
    "RasterViewer",
    "view",
    "HtmlView",
    "RunData",
    "load_run",
    "load_record",
    "save_record",
]

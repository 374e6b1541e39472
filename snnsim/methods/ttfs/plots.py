"""TTFS's plots: first-spike times and their histogram per layer.

The functions are generic analysis of any spike record and live in :mod:`analysis.first_spikes`
(the analysis layer is below the methods); this module names them for TTFS.
"""

from analysis.first_spikes import first_spike_times, plot_first_spike_times, ttfs_histogram_data

__all__ = ["first_spike_times", "plot_first_spike_times", "ttfs_histogram_data"]

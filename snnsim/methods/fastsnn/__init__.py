"""FastSNN: single-spike-per-neuron layers computed for all time steps at once (Taylor et al. 2022).

- :mod:`.layer`: the scan and the single-spike layer (autograd); :mod:`.nodes`: the
  ``fastlif`` and ``peak_integrator`` node types; :mod:`.encoding`: the ``log_latency``
  encoder; :mod:`.rule`: the rules ``fastsnn`` and ``lif``.
"""

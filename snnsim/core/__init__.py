"""The core: neurons, connections and network specs, with no training method in them.

- :mod:`.dynamics`: pure neuron step functions (IF/LIF/CUBA); :mod:`.surrogate`: spike
  derivatives; :mod:`.autograd`: the differentiable multi-step neuron.
- :mod:`.nodes`: BindsNET node classes; :mod:`.ops` and :mod:`.connections`: the ops a
  connection applies and the connection itself; :mod:`.density`: event-driven or dense per call.
- :mod:`.spec` (validated by :mod:`.schema`): networks as JSON-ready dicts; :mod:`.io`: save
  and load; :mod:`.bnfold`: BatchNorm folding; :mod:`.registry`: names that methods fill lazily.

Nothing here imports :mod:`snnsim.methods`: a method is loaded when a spec, checkpoint or
command first names one of its node types, ops or rules.
"""

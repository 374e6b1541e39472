"""Native CPU kernels: C sources in ``csrc/``, one build/load module, and their wrappers.

- :mod:`.build`: compile, cache and load a C library; the ``SNNSIM_NATIVE=0`` switch.
- :mod:`.lif`: the fused multi-step IF/LIF forward and adjoint passes.
- :mod:`.events`: spike counts and the event-driven (gather) synaptic sums.
- :mod:`.event_conv`: the event-driven 2-D convolution (gather per output window).
- :mod:`.direct_conv`: the dense direct 2-D convolution for few-channel inputs (an input layer).
- :mod:`.fastsnn`: FastSNN's scan and single-spike layer.

Each wrapper falls back to pure torch when its library cannot be built or is switched off.
"""

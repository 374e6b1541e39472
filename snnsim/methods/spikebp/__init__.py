"""Spike-based backpropagation for LIF networks with Poisson input, dropout and BatchNorm
(Lee et al. 2020): the learning rule ``spikebp`` (:mod:`.rule`)."""

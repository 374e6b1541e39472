"""NIR (the Neuromorphic Intermediate Representation): export and import of snnsim networks.

- :mod:`.graph`: ``save_nir`` / ``load_nir`` / ``to_nir`` / ``from_nir`` and the conventions.
- :mod:`.writer`: a Network -> NIR nodes and edges; :mod:`.reader`: NIR -> a network spec.

Needs the ``nir`` package (``pip install nir``) only when called.
"""

from snnsim.nir.graph import THRESHOLD_CONVENTION, from_nir, load_nir, save_nir, to_nir

__all__ = ["THRESHOLD_CONVENTION", "from_nir", "load_nir", "save_nir", "to_nir"]

"""Module paths of snnsim 0.1 that keep working for one release, with a warning.

The 0.2 layout gave each method one home (``snnsim.methods.<name>``) and the core its own
package (``snnsim.core``). ``import snnsim.spec`` (or any other old path below) still gives the
module, now under its new name, and warns with a :class:`FutureWarning` naming the new
path. The finder is installed by ``import snnsim``; the aliases go in the next release.

An old path shares its parent with a new one (``snnsim.extensions`` is ``snnsim.methods``), and the
import system binds each imported module on its parent: ``import snnsim.extensions.fastsnn`` would
set ``snnsim.methods.fastsnn`` to the FastSNN *nodes* module. The parent of an alias therefore keeps
its own submodules (:class:`_KeepsSubmodules`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Optional, Sequence

#: old module path -> new module path
MOVED: dict[str, str] = {
    "analysis.ttfs": "analysis.first_spikes",
    "snnsim.methods.stdp.cli": "snnsim.cli.stdp",
    "encoders.fastsnn_latency": "snnsim.methods.fastsnn.encoding",
    "networks.resnet": "snnsim.methods.stbp.resnet",
    "snnsim.ann": "snnsim.training.ann",
    "snnsim.autograd": "snnsim.core.autograd",
    "snnsim.bnfold": "snnsim.core.bnfold",
    "snnsim.checkpoint": "snnsim.training.checkpoint",
    "snnsim.commands": "snnsim.cli",
    "snnsim.commands.common": "snnsim.cli.common",
    "snnsim.commands.convert": "snnsim.cli.convert",
    "snnsim.commands.demo": "snnsim.cli.demo",
    "snnsim.commands.fold": "snnsim.cli.fold",
    "snnsim.commands.parsers": "snnsim.cli.parsers",
    "snnsim.commands.plot": "snnsim.cli.plot",
    "snnsim.commands.simulate": "snnsim.cli.simulate",
    "snnsim.commands.train": "snnsim.cli.train",
    "snnsim.commands.train_ann": "snnsim.cli.train_ann",
    "snnsim.commands.view": "snnsim.cli.view",
    "snnsim.connections": "snnsim.core.connections",
    "snnsim.conversion": "snnsim.methods.conversion",
    "snnsim.conversion.baseline": "snnsim.methods.conversion.baseline",
    "snnsim.conversion.blocks": "snnsim.methods.conversion.blocks",
    "snnsim.conversion.convert": "snnsim.methods.conversion.convert",
    "snnsim.conversion.fold": "snnsim.methods.conversion.fold",
    "snnsim.conversion.graph": "snnsim.methods.conversion.graph",
    "snnsim.conversion.normalize": "snnsim.methods.conversion.normalize",
    "snnsim.data_events": "snnsim.data.events",
    "snnsim.density": "snnsim.core.density",
    "snnsim.distributed": "snnsim.training.distributed",
    "snnsim.dynamics": "snnsim.core.dynamics",
    "snnsim.events_native": "snnsim.native.events",
    "snnsim.extensions": "snnsim.methods",
    "snnsim.extensions.fastsnn": "snnsim.methods.fastsnn.nodes",
    "snnsim.extensions.tdbn": "snnsim.methods.stbp.ops",
    "snnsim.extensions.ttfs": "snnsim.methods.ttfs.nodes",
    "snnsim.fastsnn": "snnsim.methods.fastsnn.layer",
    "snnsim.fastsnn_native": "snnsim.native.fastsnn",
    "snnsim.idx": "snnsim.data.idx",
    "snnsim.io": "snnsim.core.io",
    "snnsim.learning": "snnsim.training",
    "snnsim.learning.base": "snnsim.training.rule",
    "snnsim.learning.fastsnn": "snnsim.methods.fastsnn.rule",
    "snnsim.learning.spikebp": "snnsim.methods.spikebp.rule",
    "snnsim.learning.stbp": "snnsim.methods.stbp.rule",
    "snnsim.learning.ttfs": "snnsim.methods.ttfs.rule",
    "snnsim.lif_native": "snnsim.native.lif",
    "snnsim.nir_export": "snnsim.nir.writer",
    "snnsim.nir_import": "snnsim.nir.reader",
    "snnsim.nirgraph": "snnsim.nir.graph",
    "snnsim.nodes": "snnsim.core.nodes",
    "snnsim.ops": "snnsim.core.ops",
    "snnsim.schema": "snnsim.core.schema",
    "snnsim.simulation": "snnsim.engine.evaluate",
    "snnsim.spec": "snnsim.core.spec",
    "snnsim.surrogate": "snnsim.core.surrogate",
    "snnsim.tdbn": "snnsim.methods.stbp.tdbn",
    "snnsim.ttfs": "snnsim.methods.ttfs",
    "snnsim.ttfs.build": "snnsim.methods.ttfs.build",
    "snnsim.ttfs.chain": "snnsim.methods.ttfs.chain",
    "snnsim.ttfs.exact": "snnsim.methods.ttfs.exact",
    "snnsim.ttfs.mapping": "snnsim.methods.ttfs.mapping",
    "snnsim.ttfs.metrics": "snnsim.methods.ttfs.metrics",
    "snnsim.ttfs.simulate": "snnsim.methods.ttfs.simulate",
    "snnsim.ttfs.windowing": "snnsim.methods.ttfs.windowing",
}


#: the release in which an old path moved (default 0.2)
MOVED_IN: dict[str, str] = {
    "snnsim.methods.stdp.cli": "0.3",
}


class _KeepsSubmodules(ModuleType):
    """A package that an old path's module is bound on: binding an alias (a module whose name is
    another path's) over one of the package's own submodules is ignored."""

    def __setattr__(self, name: str, value: object) -> None:
        own = sys.modules.get(f"{self.__name__}.{name}")
        if isinstance(value, ModuleType) and own is not None and value is not own:
            return  # the import system binding an old path on the parent it shares: keep the real one
        super().__setattr__(name, value)


class _Alias(importlib.abc.Loader):
    """Loads an old path as the module at its new path (the same module object)."""

    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        release = MOVED_IN.get(spec.name, "0.2")
        warnings.warn(
            f"{spec.name} moved to {self.new} in snnsim {release}; the old path will be removed in the next release",
            FutureWarning,
            stacklevel=2,
        )
        module = importlib.import_module(self.new)
        parent = sys.modules.get(spec.name.rpartition(".")[0])
        if parent is not None and type(parent) is ModuleType:
            parent.__class__ = _KeepsSubmodules  # before the import system binds the alias on it
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the new module is already imported."""


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]] = None, target: Optional[ModuleType] = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        new = MOVED.get(fullname)
        return None if new is None else importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    """Put the finder in front of ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())

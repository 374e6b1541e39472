"""The package layout: the core and the engine load no method; methods register lazily;
the 0.1 module paths still work, with a warning."""
import ast
import json
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ("snnsim/core", "snnsim/engine", "snnsim/native", "snnsim/training")


def _fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter and return its stdout."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_core_loads_no_method():
    modules = ["snnsim.engine", "snnsim.core.spec", "snnsim.core.io", "snnsim.training", "snnsim.engine.evaluate",
               "snnsim.nir", "snnsim.data", "networks", "encoders", "analysis"]
    out = _fresh(f"import sys, {', '.join(modules)}\n"
                 "print(sorted(m for m in sys.modules if m.startswith('snnsim.methods.')))")
    assert out.strip() == "[]"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_no_core_module_imports_a_method_even_lazily():
    bad = {str(p.relative_to(ROOT)): sorted(m for m in _imports(p) if m.startswith("snnsim.methods."))
           for d in CORE for p in (ROOT / d).rglob("*.py")}
    assert {k: v for k, v in bad.items() if v} == {}


def test_a_spec_naming_a_method_node_type_loads_that_method_only():
    code = ("import sys\nfrom snnsim.core.spec import build_network\n"
            "build_network({'layers': [{'name': 'in', 'type': 'input', 'shape': [4]},"
            " {'name': 'out', 'type': 'ttfs'}], 'connections': [{'source': 'in', 'target': 'out',"
            " 'ops': [{'op': 'linear', 'out_features': 3, 'bias': False}]}]})\n"
            "print(' '.join(sorted({m.split('.')[2] for m in sys.modules if m.startswith('snnsim.methods.')})))")
    loaded = set(_fresh(code).split())
    assert "ttfs" in loaded and not loaded & {"fastsnn", "spikebp", "stbp"}  # ttfs maps from ReLU nets: conversion


def test_the_manifest_names_exactly_what_each_method_registers():
    from encoders import ENCODERS
    from snnsim.core.nodes import NODE_TYPES
    from snnsim.core.ops import OPS
    from snnsim.methods import PROVIDERS
    from snnsim.training import RULES

    registries = {"node": NODE_TYPES, "op": OPS, "rule": RULES, "encoder": ENCODERS}
    for kind, names in PROVIDERS.items():
        for name, module in names.items():
            assert registries[kind][name].__module__ == module, (kind, name)  # loads the module
    for kind, reg in registries.items():  # every method loaded now: each method name is listed
        by_methods = {n for n, obj in reg.all().items() if obj.__module__.startswith("snnsim.methods.")}
        assert by_methods == set(PROVIDERS.get(kind, {})), kind


def test_unknown_names_list_the_lazy_ones_too():
    from snnsim.errors import UserError
    from snnsim.training import get_rule

    with pytest.raises(UserError, match="fastsnn.*lif.*spikebp.*stbp-tdbn.*ttfs"):
        get_rule("nope")


def test_old_paths_warn_and_give_the_same_module():
    out = _fresh("import warnings, sys\nwarnings.simplefilter('error')\nimport snnsim.core.spec as new\n"
                 "try:\n    import snnsim.spec\nexcept FutureWarning as w:\n    print(w)\n")
    assert "snnsim.spec moved to snnsim.core.spec" in out
    olds = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for old, new in [("snnsim.nirgraph", "snnsim.nir.graph"), ("snnsim.ttfs", "snnsim.methods.ttfs"),
                         ("snnsim.conversion.blocks", "snnsim.methods.conversion.blocks"),
                         ("networks.resnet", "snnsim.methods.stbp.resnet")]:
            sys.modules.pop(old, None)
            assert importlib.import_module(old) is importlib.import_module(new)
            olds.append(old)
    warned = {str(w.message).split()[0] for w in caught if issubclass(w.category, FutureWarning)}
    assert set(olds) <= warned
    with pytest.warns(FutureWarning, match="snnsim.training.trainer.fit"):
        from snnsim.training import fit  # noqa: F401


def test_every_moved_path_still_imports():
    from snnsim._moved import MOVED

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for old, new in MOVED.items():
            assert importlib.import_module(old) is importlib.import_module(new), old


def test_tests_mirror_the_package_tree():
    for d in ("core", "engine", "native", "training", "cli", "data", "nir", "methods/conversion", "methods/spikebp",
              "methods/stbp", "methods/ttfs", "methods/fastsnn", "analysis", "encoders"):
        assert list((ROOT / "tests" / d).glob("test_*.py")), d


def test_checkpoints_saved_by_0_1_load_and_simulate_the_same():
    """Networks saved by snnsim 0.1 (before the layout change: TTFS, FastSNN and tdBN node types
    and ops) load in a fresh interpreter, whose registries import each method on demand, and
    simulate to the figures 0.1 recorded (tests/data/checkpoints_0_1/expected.json)."""
    fixtures = ROOT / "tests" / "data" / "checkpoints_0_1"
    code = f"""
import json, sys, torch
from pathlib import Path
from snnsim.core.io import load_network
from snnsim.engine import simulate
root = Path({str(fixtures)!r})
inputs = torch.load(root / "inputs.pt")
out = {{}}
for name in ("ttfs", "fastsnn", "stbp"):
    net = load_network(root / name).eval()
    with torch.no_grad():
        rec = simulate(net, inputs["x_conv" if name == "stbp" else "x"], engine="fast", record_voltage=True)
    out[name] = {{"out_v_sum": float(rec.voltages["out"].double().nan_to_num(neginf=0.0).sum()),
                  "spikes": {{k: int(v.sum()) for k, v in rec.spikes.items()}}}}
print(json.dumps(out))
"""
    got = json.loads(_fresh(code).strip().splitlines()[-1])
    expected = json.loads((fixtures / "expected.json").read_text())
    for name, exp in expected.items():
        assert got[name]["spikes"] == exp["spikes"], name
        assert got[name]["out_v_sum"] == pytest.approx(exp["out_v_sum"], rel=1e-6), name

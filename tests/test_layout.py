"""The package layout: the core and the engine load no method; methods register lazily;
the 0.1 module paths still work, with a warning."""

import importlib
import json
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
    modules = [
        "snnsim.engine",
        "snnsim.core.spec",
        "snnsim.core.io",
        "snnsim.training",
        "snnsim.engine.evaluate",
        "snnsim.nir",
        "snnsim.data",
        "networks",
        "encoders",
        "analysis",
    ]
    out = _fresh(
        f"import sys, {', '.join(modules)}\nprint(sorted(m for m in sys.modules if m.startswith('snnsim.methods.')))"
    )
    assert out.strip() == "[]"


def test_import_contracts_hold():
    """The layers of the README's diagram, no cycle between sibling packages or modules, independent
    methods and torch-free name tables (.importlinter), checked by import-linter's ``lint-imports``."""
    exe = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_the_contracts_catch_a_core_module_importing_a_method(tmp_path):
    """The layers contract is not vacuous: a copy of the tree whose core imports a method breaks it."""
    import shutil

    for top in ("snnsim", "networks", "encoders", "analysis"):
        shutil.copytree(ROOT / top, tmp_path / top, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    with open(tmp_path / "snnsim" / "core" / "registry.py", "a") as f:
        f.write("\n\ndef _sneaky():\n    from snnsim.methods.ttfs import nodes  # a lazy import counts too\n")
    exe = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(exe), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode != 0
    assert "snnsim.core.registry -> snnsim.methods.ttfs.nodes" in done.stdout


def test_a_spec_naming_a_method_node_type_loads_that_method_only():
    code = (
        "import sys\nfrom snnsim.core.spec import build_network\n"
        "build_network({'layers': [{'name': 'in', 'type': 'input', 'shape': [4]},"
        " {'name': 'out', 'type': 'ttfs'}], 'connections': [{'source': 'in', 'target': 'out',"
        " 'ops': [{'op': 'linear', 'out_features': 3, 'bias': False}]}]})\n"
        "print(' '.join(sorted({m.split('.')[2] for m in sys.modules if m.startswith('snnsim.methods.')})))"
    )
    loaded = set(_fresh(code).split())
    assert "ttfs" in loaded and not loaded & {"fastsnn", "spikebp", "stbp"}  # ttfs maps from ReLU nets: conversion


def test_each_name_is_registered_by_the_module_that_declares_it():
    """snnsim.plugins is the one declaration: after loading every declared module, each registry
    holds exactly the declared names, each first registered by the module declared for it."""
    import encoders
    import networks
    from snnsim import plugins
    from snnsim.core.nodes import NODE_TYPES
    from snnsim.core.ops import OPS
    from snnsim.methods import PROVIDERS
    from snnsim.training import RULES
    from snnsim.training.ann import ANNS

    registries = {"node": NODE_TYPES, "op": OPS, "rule": RULES, "encoder": encoders.ENCODERS}
    for kind, reg in registries.items():
        reg.all()
        declared = {n: plugins.module_of(kind, n) for n in plugins.names(kind)}
        assert {n: reg.origin[n] for n in reg} == declared, kind
    assert set(networks.SPECS) == set(plugins.names("network"))
    assert set(ANNS) == set(plugins.names("ann"))
    assert PROVIDERS["rule"] == {n: m for n, m in plugins.table()["rule"].items() if m.startswith("snnsim.methods.")}
    for name in plugins.names("viewer"):
        assert callable(plugins.load("viewer", name))


def test_a_third_party_entry_point_adds_a_rule_and_a_node_type(tmp_path):
    """A package declaring ``snnsim.plugins`` entry points (KIND.NAME = module) adds its names: the CLI's
    choices list them without torch, and naming them loads the package's module."""
    (tmp_path / "myplug.py").write_text(
        "from snnsim.core.nodes import LIFNeurons, SPIKING_PARAMS, register_node\n"
        "class Mine(LIFNeurons):\n    pass\n"
        "register_node('mine', Mine, SPIKING_PARAMS)\n"
    )
    dist = tmp_path / "myplug-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[snnsim.plugins]\nnode.mine = myplug\nrule.myrule = myplug\n")
    code = (
        "import sys\nfrom snnsim import names, plugins\n"
        "print(names.RULE_NAMES, 'torch' in sys.modules)\n"
        "from snnsim.core.nodes import NODE_TYPES\nprint(NODE_TYPES['mine'].__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": f"{ROOT}:{tmp_path}"},
    )
    assert done.returncode == 0, done.stderr
    rules, nodes = done.stdout.strip().splitlines()
    assert rules == "('fastsnn', 'lif', 'myrule', 'spikebp', 'stbp-tdbn', 'ttfs') False"
    assert nodes == "myplug"


def test_an_entry_point_may_not_take_a_builtin_name(tmp_path, monkeypatch):
    from snnsim import plugins

    monkeypatch.setattr(plugins, "_entry_points", lambda: [("rule", "ttfs", "elsewhere.rule")])
    plugins.table.cache_clear()
    try:
        with pytest.raises(ValueError, match="rule.ttfs = elsewhere.rule"):
            plugins.table()
    finally:
        monkeypatch.undo()
        plugins.table.cache_clear()


def test_unknown_names_list_the_lazy_ones_too():
    from snnsim.errors import UserError
    from snnsim.training import get_rule

    with pytest.raises(UserError, match="fastsnn.*lif.*spikebp.*stbp-tdbn.*ttfs"):
        get_rule("nope")


def test_old_paths_warn_and_give_the_same_module():
    out = _fresh(
        "import warnings, sys\nwarnings.simplefilter('error')\nimport snnsim.core.spec as new\n"
        "try:\n    import snnsim.spec\nexcept FutureWarning as w:\n    print(w)\n"
    )
    assert "snnsim.spec moved to snnsim.core.spec" in out
    olds = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for old, new in [
            ("snnsim.nirgraph", "snnsim.nir.graph"),
            ("snnsim.ttfs", "snnsim.methods.ttfs"),
            ("snnsim.conversion.blocks", "snnsim.methods.conversion.blocks"),
            ("networks.resnet", "snnsim.methods.stbp.resnet"),
        ]:
            sys.modules.pop(old, None)
            assert importlib.import_module(old) is importlib.import_module(new)
            olds.append(old)
    warned = {str(w.message).split()[0] for w in caught if issubclass(w.category, FutureWarning)}
    assert set(olds) <= warned
    with pytest.warns(FutureWarning, match="snnsim.training.trainer.fit"):
        from snnsim.training import fit  # noqa: F401 (the import itself is what the test checks)


@pytest.mark.parametrize("first", ["new", "old"])
def test_an_old_path_leaves_the_new_package_attribute_alone(first):
    """``import snnsim.extensions.fastsnn`` (= snnsim.methods.fastsnn.nodes) used to rebind
    ``snnsim.methods.fastsnn`` to the nodes module, in an order-dependent way."""
    imports = ["import snnsim.methods.fastsnn.rule", "import snnsim.extensions.fastsnn"]
    code = (
        "import warnings, sys\nwarnings.simplefilter('ignore', FutureWarning)\n"
        + "\n".join(imports if first == "new" else imports[::-1])
        + "\nimport snnsim.methods\nprint(snnsim.methods.fastsnn.__name__, snnsim.methods.fastsnn.rule.__name__,"
        " sys.modules['snnsim.extensions.fastsnn'].__name__)"
    )
    assert _fresh(code).split() == [
        "snnsim.methods.fastsnn",
        "snnsim.methods.fastsnn.rule",
        "snnsim.methods.fastsnn.nodes",
    ]


def test_every_moved_path_still_imports():
    from snnsim._moved import MOVED

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for old, new in MOVED.items():
            assert importlib.import_module(old) is importlib.import_module(new), old


def test_tests_mirror_the_package_tree():
    for d in (
        "core",
        "engine",
        "native",
        "training",
        "cli",
        "data",
        "nir",
        "methods/conversion",
        "methods/spikebp",
        "methods/stbp",
        "methods/ttfs",
        "methods/fastsnn",
        "analysis",
        "encoders",
    ):
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

"""The subcommands stay independent (issue 19 item 4): no command module imports another
one (shared pieces live in ``snnsim.cli.common`` or the library), and no command
assigns to an attribute of ``args`` (resolved options are locals or small dataclasses)."""

from __future__ import annotations

import ast
from pathlib import Path

COMMANDS = Path(__file__).resolve().parents[2] / "snnsim" / "cli"
HELPERS = {
    "__init__",
    "common",
    "outdir",
    "parsers",
    "stdp",
}  # shared helpers, not commands (stdp: train --method stdp)


def command_modules() -> list[Path]:
    return sorted(p for p in COMMANDS.glob("*.py") if p.stem not in HELPERS)


def imported_commands(path: Path) -> set[str]:
    """Names of command modules that ``path`` imports (``from .x import``, ``from . import x``,
    ``snnsim.cli.x``)."""
    names = {p.stem for p in command_modules()}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1:
                parts = mod.split(".")[:1] if mod else [a.name for a in node.names]
            elif mod.startswith("snnsim.cli"):
                rest = mod.split(".")[2:]
                parts = rest[:1] if rest else [a.name for a in node.names]
            else:
                continue
            found |= names & set(parts)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("snnsim.cli."):
                    found |= names & {a.name.split(".")[2]}
    return found


def args_assignments(path: Path) -> list[str]:
    """``args.<x> = ...`` (also augmented, annotated, tuple targets, setattr(args, ...))."""
    hits = []

    def targets(node: ast.AST) -> list[ast.AST]:
        if isinstance(node, ast.Assign):
            return node.targets
        if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            return [node.target]
        return []

    for node in ast.walk(ast.parse(path.read_text())):
        stack = targets(node)
        while stack:
            t = stack.pop()
            if isinstance(t, (ast.Tuple, ast.List)):
                stack.extend(t.elts)
            elif isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "args":
                hits.append(f"{path.name}:{t.lineno} args.{t.attr}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == "args"
        ):
            hits.append(f"{path.name}:{node.lineno} setattr(args, ...)")
    return hits


def test_scanners_find_what_they_look_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from .simulate import x\nfrom . import convert\nimport snnsim.cli.train\n"
        "from snnsim.cli.view import y\nfrom .common import z\n"
        "def run(args):\n    args.net = 1\n    args.a, b = 1, 2\n    args.n += 1\n"
        "    setattr(args, 'x', 1)\n    net = args.net\n"
    )
    assert imported_commands(bad) == {"simulate", "convert", "train", "view"}
    assert [h.split()[1] for h in args_assignments(bad)] == ["args.net", "args.a", "args.n", "setattr(args,"]


def test_command_modules_do_not_import_each_other():
    mods = command_modules()
    assert {"convert", "simulate", "train", "train_ann"} <= {p.stem for p in mods}
    imports = {p.name: sorted(imported_commands(p)) for p in mods}
    assert all(not v for v in imports.values()), imports


def test_commands_do_not_assign_to_args():
    hits = [h for p in sorted(COMMANDS.glob("*.py")) for h in args_assignments(p)]
    assert hits == []

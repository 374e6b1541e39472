"""Every code block of README.md and docs/**/*.md is run or parsed (issue 27).

- ```python blocks run, each page's blocks in order in one namespace, in an empty directory.
- ```bash / ```console / ```shell lines that start with ``snnsim`` (or ``torchrun ... -m snnsim``)
  parse with the real argparse parsers; ``a|b`` alternatives are parsed one by one.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.docs.blocks import ROOT, Block, all_blocks, blocks, pages

SHELL = ("bash", "console", "shell", "sh")


def _page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


PY_PAGES = [p for p in pages() if any(b.lang == "python" for b in blocks(p))]


@pytest.mark.parametrize("page", PY_PAGES, ids=_page_id)
def test_python_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.pyplot as plt
    import torch

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    scope: dict = {"__name__": "__docs__"}
    try:
        for block in (b for b in blocks(page) if b.lang == "python"):
            exec(compile(block.code, block.where, "exec"), scope)
    finally:
        plt.close("all")


def snnsim_commands(block: Block) -> list[tuple[str, list[str]]]:
    """(where, argv after ``snnsim``) of each command line of a shell block."""
    text = block.code.replace("\\\n", " ")
    out = []
    for k, line in enumerate(text.splitlines()):
        line = line.strip().removeprefix("$ ")
        words = shlex.split(line, comments=True)
        if words[:1] == ["torchrun"] and "snnsim" in words:
            words = words[words.index("snnsim") :]
        if words[:1] == ["snnsim"]:
            out.append((f"{block.where}+{k}", words[1:]))
    return out


def alternatives(argv: list[str]) -> list[list[str]]:
    """``--net fc|scnn`` -> one argv per alternative (the k-th of every ``a|b`` token)."""
    choices = [a.split("|") if "|" in a and not a.startswith("-") else [a] for a in argv]
    n = max(len(c) for c in choices) if choices else 1
    return [[c[min(k, len(c) - 1)] for c in choices] for k in range(n)]


COMMANDS = [c for lang in SHELL for b in all_blocks(lang) for c in snnsim_commands(b)]


def test_docs_have_commands_and_code() -> None:
    """The extraction finds what the pages hold (a broken parser would find nothing and pass)."""
    readme = blocks(ROOT / "README.md")
    assert [b.lang for b in readme][:1] == ["bash"] and any(b.lang == "python" for b in readme)
    assert len(COMMANDS) >= 30 and len(PY_PAGES) >= 6


@pytest.mark.parametrize("where,argv", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_snnsim_command_lines_parse(where: str, argv: list[str]) -> None:
    from snnsim.cli.parsers import build_parser

    for variant in alternatives(argv):
        try:
            build_parser().parse_args(variant)
        except SystemExit as stop:  # --help / --version exit 0; an error exits 2
            assert stop.code == 0, f"{where}: snnsim {shlex.join(variant)} does not parse"


def test_a_wrong_option_is_caught() -> None:
    """The check above fails on a command that the parsers refuse."""
    bad = Block(ROOT / "README.md", 1, "bash", "snnsim train --method nosuch --out x\n")
    ((where, argv),) = snnsim_commands(bad)
    with pytest.raises(AssertionError):
        test_snnsim_command_lines_parse(where, argv)

"""`make docs` in the test suite: the Sphinx build with warnings as errors, offline, with the
tutorials' executed outputs rendered (issue 27).

The build runs on a copy of docs/ whose notebooks carry the outputs of the session's nbclient run
(``executed_tutorials``), with myst-nb's execution off, so each notebook runs once per session.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.docs.blocks import DOCS, ROOT

pytest.importorskip("sphinx", reason="docs requirements missing: pip install -r requirements-docs.txt")
pytest.importorskip("myst_nb", reason="docs requirements missing: pip install -r requirements-docs.txt")

REMOTE = re.compile(r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.I)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, executed_tutorials: dict[str, Any]) -> Path:
    """Build the site once; returns the HTML directory. Fails with Sphinx's log on any warning."""
    import nbformat

    root = tmp_path_factory.mktemp("site")
    shutil.copytree(DOCS, root / "docs", ignore=shutil.ignore_patterns("_build", "jupyter_execute", "__pycache__"))
    shutil.copy(ROOT / "CONTRIBUTING.md", root / "CONTRIBUTING.md")
    for name, book in executed_tutorials.items():
        nbformat.write(book, root / "docs" / "tutorials" / name)
    html = root / "html"
    env = {
        **os.environ,
        "SNNSIM_DOCS_EXECUTE": "off",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(root / "docs"), str(html)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"sphinx-build -W failed:\n{run.stderr[-6000:]}"
    return html


def test_every_page_is_built_and_in_the_navigation(site: Path) -> None:
    """The globbed toctrees pick up every page under guide/, benchmarks/ and tutorials/ (pages that
    other people add there need no index edit): each is built and linked from the front page."""
    index = (site / "index.html").read_text(encoding="utf-8")
    sources = [
        p
        for p in DOCS.rglob("*")
        if p.suffix in (".md", ".ipynb")
        and "_build" not in p.parts
        and p.parent != DOCS
        or p.name in ("results.md", "cli.md", "api.md", "getting-started.md")
    ]
    for src in sources:
        rel = src.relative_to(DOCS).with_suffix(".html").as_posix()
        assert (site / rel).is_file(), rel
        assert f'href="{rel}"' in index, f"{rel} is not in the navigation"


def test_site_loads_nothing_from_the_network(site: Path) -> None:
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        hit = REMOTE.search(text)
        assert hit is None, f"{page.relative_to(site)} loads {text[hit.start() : hit.start() + 120]}"


def test_images_and_notebook_outputs_are_rendered(site: Path) -> None:
    results = (site / "results.html").read_text(encoding="utf-8")
    for image in ("mnist_fc_convergence.png", "mnist_fc_raster.png", "mnist_fc_rates.png"):
        assert image in results and (site / "_images" / image).is_file(), image
    convert = (site / "tutorials" / "01-convert.html").read_text(encoding="utf-8")
    assert re.search(r'<img [^>]*src="\.\./_images/[^"]+\.png"', convert), "the accuracy plot is rendered"
    viewer = (site / "tutorials" / "04-viewer.html").read_text(encoding="utf-8")
    assert "<iframe srcdoc=" in viewer, "the viewer is rendered inline"


def test_cli_reference_lists_every_option_of_every_command(site: Path) -> None:
    """The generated reference cannot drift: every subcommand and option string of the real
    parsers appears in the built page."""
    from snnsim.cli.parsers import build_parser

    page = (site / "cli.html").read_text(encoding="utf-8")
    for name, sub in build_parser().commands.items():
        assert f"snnsim {name}" in page, name
        for action in sub._actions:
            for opt in action.option_strings:
                assert opt in page, f"snnsim {name} {opt} is missing from cli.html"


def test_api_reference_documents_the_public_functions(site: Path) -> None:
    page = (site / "api.html").read_text(encoding="utf-8")
    for name in (
        "snnsim.engine.simulate",
        "snnsim.core.spec.build_network",
        "snnsim.core.io.save_network",
        "snnsim.methods.conversion.convert",
        "snnsim.training.trainer.fit",
        "snnsim.nir.save_nir",
    ):
        assert f'id="{name}"' in page, name

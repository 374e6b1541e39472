"""The tutorial notebooks run on the embedded digits, at small sizes, and show what they claim."""

from __future__ import annotations

from typing import Any

import pytest

from tests.docs.conftest import TUTORIALS


def _outputs(book: Any, kind: str) -> list[Any]:
    return [
        o
        for c in book.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if kind in o.get("data", {}) or o.get("output_type") == kind
    ]


def _text(book: Any) -> str:
    return "".join(o.get("text", "") for o in _outputs(book, "stream"))


def test_there_are_four_tutorials() -> None:
    assert [p.name for p in TUTORIALS] == [
        "01-convert.ipynb",
        "02-spikebp.ipynb",
        "03-recurrent-bindsnet.ipynb",
        "04-viewer.ipynb",
    ]


@pytest.mark.parametrize("name", [p.name for p in TUTORIALS])
def test_tutorial_runs_without_error(name: str, executed_tutorials: dict[str, Any]) -> None:
    book = executed_tutorials[name]
    assert not _outputs(book, "error"), name
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code), "every code cell ran"


def test_convert_tutorial_plots_accuracy_vs_time(executed_tutorials: dict[str, Any]) -> None:
    book = executed_tutorials["01-convert.ipynb"]
    assert _outputs(book, "image/png"), "the accuracy-vs-time figure is drawn"
    line = next(ln for ln in _text(book).splitlines() if ln.startswith("SNN held-out accuracy"))
    assert float(line.split(": ")[1].split()[0]) > 0.8, line


def test_spikebp_tutorial_learns_and_engines_agree(executed_tutorials: dict[str, Any]) -> None:
    text = _text(executed_tutorials["02-spikebp.ipynb"])
    assert "same predictions in both engines: True" in text
    assert _outputs(executed_tutorials["02-spikebp.ipynb"], "image/png")


def test_recurrent_tutorial_runs_both_engines_to_the_same_spikes(executed_tutorials: dict[str, Any]) -> None:
    book = executed_tutorials["03-recurrent-bindsnet.ipynb"]
    text = _text(book)
    assert "identical spikes in both engines: True" in text and "(('E', 'I'), True)" in text
    assert _outputs(book, "image/png"), "the raster is drawn"


def test_viewer_tutorial_shows_the_viewer_inline_and_offline(executed_tutorials: dict[str, Any]) -> None:
    html = [o["data"]["text/html"] for o in _outputs(executed_tutorials["04-viewer.ipynb"], "text/html")]
    assert len(html) == 1 and html[0].startswith("<iframe srcdoc=")
    assert "&lt;script src=&quot;http" not in html[0], "plotly.js is inlined, not fetched"

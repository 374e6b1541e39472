"""The README's short tables stay true to the full pages they summarise (issue 27)."""

from __future__ import annotations

import re

from tests.docs.blocks import DOCS, ROOT

README = ROOT / "README.md"
PERCENT = re.compile(r"\d+(?:\.\d+)?%")
RATIO = re.compile(r"\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?x")


def _section_rows(title: str) -> list[str]:
    text = README.read_text(encoding="utf-8").split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return [ln for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith("| ---")][1:]


def test_every_readme_result_figure_is_in_docs_results() -> None:
    results = (DOCS / "results.md").read_text(encoding="utf-8")
    rows = _section_rows("Results")
    assert len(rows) >= 8, "one row per method"
    for row in rows:
        for figure in PERCENT.findall(row):
            assert re.search(rf"(?<![\d.]){re.escape(figure)}", results), (
                f"{figure} ({row[:60]}...) not in docs/results.md"
            )


def test_every_readme_benchmark_ratio_is_in_docs_benchmarks() -> None:
    pages = "".join(p.read_text(encoding="utf-8") for p in (DOCS / "benchmarks").glob("*.md"))
    rows = _section_rows("Benchmarks")
    assert len(rows) >= 6
    for row in rows:
        for ratio in RATIO.findall(row.split("|")[2]):
            assert re.search(rf"(?<![\d.]){re.escape(ratio)}", pages), f"{ratio} not in docs/benchmarks/"


def test_readme_is_a_front_page_that_starts_with_the_setup_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    first = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [ln.split()[:2] for ln in first] == [["make", "demo"], ["make", "test"]]


def test_readme_links_point_to_existing_files() -> None:
    for target in re.findall(r"\]\(((?!https?:)[^)#]+)", README.read_text(encoding="utf-8")):
        assert (ROOT / target).exists(), target

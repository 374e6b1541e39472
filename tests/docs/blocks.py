"""Fenced code blocks of README.md and docs/**/*.md, for the documentation tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")


@dataclass(frozen=True)
class Block:
    """One fenced block: its page, the line of its opening fence, its language and its text."""

    page: Path
    line: int
    lang: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/ (not the build output)."""
    found = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)
    return [ROOT / "README.md", *found]


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` in order (CommonMark fences: ``` or ~~~, closed by the same)."""
    out: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m.group("fence"), m.group("info").strip(), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not (
            lines[i].strip().startswith(fence[0] * len(fence)) and set(lines[i].strip()) == {fence[0]}
        ):
            body.append(lines[i])
            i += 1
        lang = info.split()[0].lower() if info else ""
        out.append(Block(page, start + 1, lang, "\n".join(body) + "\n"))
        i += 1
    return out


def all_blocks(lang: str) -> list[Block]:
    return [b for p in pages() for b in blocks(p) if b.lang == lang]

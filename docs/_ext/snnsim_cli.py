"""Sphinx directive ``snnsim-cli``: the command-line reference, generated from the real parsers.

It walks :func:`snnsim.cli.parsers.build_parser` (no torch is imported) and writes, for each
subcommand, its one-line help, its usage and every option with its help and default, so the
reference cannot drift from the parsers. Help text is inserted as plain text (never parsed as
markup), so no option's wording can break the build.
"""

from __future__ import annotations

import argparse
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def _options(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    """(names, help) of every option of ``parser`` but ``--help``, in declaration order."""
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        names = formatter._format_action_invocation(action)
        help_text = formatter._expand_help(action) if action.help else ""
        rows.append((names, " ".join(help_text.split())))
    return rows


def command_sections(document: Any) -> list[nodes.Node]:
    """One docutils section per ``snnsim`` subcommand."""
    from snnsim.cli.parsers import COMMANDS, build_parser

    parser = build_parser()
    out: list[nodes.Node] = []
    for name, sub in parser.commands.items():
        sid = nodes.make_id(f"snnsim-{name}")
        section = nodes.section(ids=[sid], names=[nodes.fully_normalize_name(f"snnsim {name}")])
        section += nodes.title(text=f"snnsim {name}")
        section += nodes.paragraph(text=COMMANDS[name].help)
        usage = sub.format_usage().strip()
        section += nodes.literal_block(usage, usage)
        deflist = nodes.definition_list()
        for names, help_text in _options(sub):
            item = nodes.definition_list_item()
            item += nodes.term("", "", nodes.literal(text=names))
            item += nodes.definition("", nodes.paragraph(text=help_text))
            deflist += item
        section += deflist
        document.note_implicit_target(section, section)
        out.append(section)
    return out


class SnnsimCli(SphinxDirective):
    """``.. snnsim-cli::`` (MyST: a ``{snnsim-cli}`` fence): every subcommand and option."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        return command_sections(self.state.document)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("snnsim-cli", SnnsimCli)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

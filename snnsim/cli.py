"""Command line: ``snnsim <command> ...`` (``snnsim --help`` lists the commands).

Each command lives in ``snnsim/commands/<name>.py`` and defines ``register(subparsers)``.
Bad input ends with exit code 2 and one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Optional, Sequence

from . import commands as _commands
from .commands.common import CLIError


def command_modules() -> list[str]:
    """Names of the modules in ``snnsim/commands`` that define a subcommand."""
    return sorted(m.name for m in pkgutil.iter_modules(_commands.__path__) if m.name != "common")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snnsim",
        description="Spiking neural networks on BindsNET: simulate, convert, train, analyse.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in command_modules():
        importlib.import_module(f"snnsim.commands.{name}").register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, TypeError, FileNotFoundError) as err:
        print(f"snnsim {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"snnsim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

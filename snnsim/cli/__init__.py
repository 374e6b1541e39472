"""Command line: ``snnsim <command> ...`` (``snnsim --help`` lists the commands).

The parsers live in :mod:`snnsim.cli.parsers` and import no torch, so ``--help``,
``--version`` and argument errors answer at once; the command's module
(``snnsim/cli/<name>.py``, which defines ``run(args) -> int``) is imported only to run it.

Exit codes: 0 done; 2 bad input (an argument error, a :class:`snnsim.errors.UserError`
or a missing file): one line on stderr; 1 any other exception, which is a bug and shows its traceback;
130 interrupted.
"""

from __future__ import annotations

import importlib
import sys
from typing import Optional, Sequence

from snnsim.cli.outdir import close_out, os_error_line
from snnsim.cli.parsers import COMMANDS, build_parser
from snnsim.errors import UserError


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    failed = True
    try:
        module = importlib.import_module(COMMANDS[args.command].module)
        code = int(module.run(args) or 0)
        failed = code != 0
        return code
    except (UserError, FileNotFoundError) as err:  # bad input, or a file the user named is missing
        print(f"snnsim {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk, a name too long, no permission: one line; others are bugs
        line = os_error_line(err)
        if line is None:
            raise
        print(f"snnsim {args.command}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"snnsim {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        close_out(failed)  # the lock on --out; after a failure, the files the command created there


if __name__ == "__main__":
    sys.exit(main())

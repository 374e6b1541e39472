"""Exception types for bad input from the user.

Anything a user can get wrong (a command-line option, a file, a spec, an argument of the
Python API) raises a :class:`UserError` (or :class:`UserTypeError` for a wrong type) with one
line that names what was wrong and what to do. The command line answers these with that line
and exit code 2; every other exception is a bug and keeps its traceback (exit code 1).

Both subclass the builtin ``ValueError``/``TypeError``, so ``except ValueError`` in user code
keeps working.
"""

from __future__ import annotations


class UserError(ValueError):
    """A bad value from the user: printed as one line by the CLI, exit code 2."""


class UserTypeError(UserError, TypeError):
    """An argument of the wrong type from the user: printed as one line, exit code 2."""

"""Subcommands of the ``snnsim`` command line, one module each."""

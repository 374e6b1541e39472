"""``python -m snnsim`` runs the command line."""

import sys

from snnsim.cli import main

sys.exit(main())

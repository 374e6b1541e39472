"""Progress bars and progress lines: the one place that decides whether a bar is drawn.

Bars go to stderr and are drawn only where someone watches them: a terminal (or a
Jupyter notebook). Redirected to a file (``snnsim demo 2>log``) they would write every
redraw into it, so they are off there. ``SNNSIM_PROGRESS=1`` forces bars on, ``0`` off.
Summary lines (one per epoch) are not bars: :func:`progress_line` prints them to stdout
whatever the bars do.
"""

from __future__ import annotations

import os
import sys
from typing import Optional, TextIO

from tqdm.auto import tqdm
from tqdm.autonotebook import tqdm as _auto_class

#: environment variable forcing bars on ("1") or off ("0")
PROGRESS_ENV = "SNNSIM_PROGRESS"


def bars_enabled(progress: bool = True, stream: Optional[TextIO] = None) -> bool:
    """Whether to draw a bar: never with ``progress=False`` (``--no-progress``); else
    as ``$SNNSIM_PROGRESS`` forces, else only when ``stream`` (default stderr) is a
    terminal or tqdm runs in a notebook."""
    if not progress:
        return False
    forced = os.environ.get(PROGRESS_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if _auto_class.__module__ == "tqdm.notebook":  # a notebook widget, not a stream
        return True
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def progress_bar(total: int, desc: str, unit: str, progress: bool = True, leave: bool = False) -> tqdm:
    """A tqdm bar over ``total`` items, disabled unless :func:`bars_enabled`."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not bars_enabled(progress), leave=leave)


def progress_line(text: str) -> None:
    """Print a summary line to stdout without breaking a bar being drawn."""
    tqdm.write(text, file=sys.stdout)
    sys.stdout.flush()

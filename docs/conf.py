"""Sphinx configuration of the snnsim documentation (``make docs``).

Offline by design: no intersphinx, no CDN (furo ships its assets; MathJax is not loaded),
and warnings are errors (``-W``). Notebooks under ``tutorials/`` are executed by myst-nb when
they carry no outputs (``SNNSIM_DOCS_EXECUTE``: ``auto`` (default), ``force``, ``off``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import snnsim

project = "snnsim"
author = "the snnsim developers"
copyright = "snnsim developers, AGPL-3.0-or-later"
release = version = snnsim.__version__

extensions = [
    "myst_nb",  # MyST Markdown pages and Jupyter notebooks (includes myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "snnsim_cli",  # docs/_ext/snnsim_cli.py: the command-line reference from the parsers
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "jupyter_execute"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Notebooks: execute those without stored outputs, stop the build on any cell error.
nb_execution_mode = os.environ.get("SNNSIM_DOCS_EXECUTE", "auto")
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True

autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_mock_imports: list[str] = []
napoleon_google_docstring = True
napoleon_numpy_docstring = True

html_theme = "furo"
html_title = f"snnsim {release}"
html_static_path = ["_static"]
html_show_sourcelink = False

napoleon_use_ivar = True  # "Attributes:" as fields: dataclass fields are not documented twice
# The viewer's outputs carry plotly's JSON (for JupyterLab / VS Code) and a self-contained iframe;
# the HTML pages show the iframe, and myst-nb's note that it skips the plotly JSON is expected.
nb_mime_priority_overrides = [("html", "application/vnd.plotly.v1+json", None)]
suppress_warnings = ["mystnb.unknown_mime_type"]

"""The tutorials, executed once per test session (nbclient), for the notebook and build tests."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.docs.blocks import DOCS, ROOT

TUTORIALS = sorted((DOCS / "tutorials").glob("*.ipynb"))


def _execute(path: Path, workdir: Path) -> object:
    """Run every cell of the notebook at ``path`` in a fresh kernel; returns the executed notebook.
    A failing cell raises ``nbclient.exceptions.CellExecutionError`` naming it."""
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(path, as_version=4)
    workdir.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel draws inline
    client.execute(
        env={
            **env,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "OMP_NUM_THREADS": "1",
        }
    )
    return book


@pytest.fixture(scope="session")
def executed_tutorials(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """{file name: executed notebook} of docs/tutorials/*.ipynb, two kernels at a time."""
    pytest.importorskip("nbclient", reason="docs requirements missing: pip install -r requirements-docs.txt")
    pytest.importorskip("ipykernel", reason="docs requirements missing: pip install -r requirements-docs.txt")
    root = tmp_path_factory.mktemp("tutorials")
    with ThreadPoolExecutor(max_workers=2) as pool:
        books = list(pool.map(lambda p: _execute(p, root / p.stem), TUTORIALS))
    return {p.name: b for p, b in zip(TUTORIALS, books)}

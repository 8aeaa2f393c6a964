"""Execute the notebooks as CI does: ``python tests/notebook_runner.py`` re-executes them in place
(the committed notebooks carry outputs), the tests execute copies and check them.

compare-providers.ipynb needs a local model server: llama.cpp's own server (the xllamacpp wheel)
with a tiny random model stands in for Ollama, through ``$OLLAMA_BASE_URL``.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
NOTEBOOKS = sorted((HERE.parent / "notebooks").glob("*.ipynb"))


@contextlib.contextmanager
def notebook_env(path: Path, tmp: Path) -> Iterator[None]:
    """The environment a notebook runs in: a throwaway threadrun home, and a local model if needed."""
    saved = dict(os.environ)
    os.environ.update(THREADRUN_HOME=str(tmp / "threadrun-home"))
    for name in ("THREADRUN_BASE_URL", "THREADRUN_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        os.environ.pop(name, None)
    try:
        if path.name == "compare-providers.ipynb":
            sys.path.insert(0, str(HERE))
            from upstreams.servers import xllamacpp_server
            with xllamacpp_server(tmp, api_key=None) as (base, _):
                os.environ.update(OLLAMA_BASE_URL=base, LOCAL_MODEL="tiny")
                yield
        else:
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute(path: Path, tmp: Path) -> nbformat.NotebookNode:
    """Run every cell of a notebook in a fresh kernel; the executed notebook."""
    nb = nbformat.read(path, as_version=4)
    with notebook_env(path, tmp):
        NotebookClient(nb, timeout=180, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp)}}).execute()
    return nb


if __name__ == "__main__":
    for notebook in NOTEBOOKS:
        with tempfile.TemporaryDirectory() as scratch:
            nbformat.write(execute(notebook, Path(scratch)), notebook)
            print("executed", notebook.name)

"""Every notebook in notebooks/ runs top to bottom without an error."""
from __future__ import annotations

import time

import nbformat
import pytest

from notebook_runner import NOTEBOOKS, execute


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_without_errors(path, tmp_path):
    nb = execute(path, tmp_path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    assert any("completed" in str(o) for c in nb.cells for o in c.get("outputs", []))
    if path.name == "compare-models.ipynb":  # the plot shows as an image, once
        images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert len(images) == 1


def test_there_is_a_quickstart_notebook():
    assert "quickstart.ipynb" in [p.name for p in NOTEBOOKS]


def test_notebooks_are_committed_executed_and_start_no_server_of_their_own():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.get("outputs") or c.execution_count for c in code), path.name
        assert not any("local_server" in c.source for c in code), path.name


def test_the_providers_notebook_compares_a_local_model_with_echo(tmp_path):
    nb = execute(next(p for p in NOTEBOOKS if p.name == "compare-providers.ipynb"), tmp_path)
    text = "\n".join(str(o) for c in nb.cells for o in c.get("outputs", []))
    assert "ollama" in text and "tiny" in text and "echo" in text
    assert "ok: 1 models" in text or "ok: 2 models" in text


def test_the_compare_on_data_notebook_scores_180_runs_and_shows_intervals_within_a_minute(tmp_path):
    started = time.monotonic()
    nb = execute(next(p for p in NOTEBOOKS if p.name == "compare-on-data.ipynb"), tmp_path)
    elapsed = time.monotonic() - started
    text = "\n".join(str(o) for c in nb.cells for o in c.get("outputs", []))
    assert "180/180 runs" in text and "completed=180" in text  # 30 inputs × 2 models × 3 repeats
    for column in ("ci_low", "ci_high", "completion_rate", "distinct", "diff_low", "diff_high", "pairs"):
        assert column in text, column
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1
    assert 0.5 < elapsed < 60

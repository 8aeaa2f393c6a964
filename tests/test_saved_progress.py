"""A grid run in a real kernel (nbclient) saves its progress line in its final state, not the
``0/8 0%`` a saved tqdm widget shows when the notebook is reopened (issue 22 point 4)."""
from __future__ import annotations

import json

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook


def test_the_saved_progress_line_is_the_final_one_with_counts_by_outcome(tmp_path):
    nb = new_notebook(cells=[new_code_cell("%load_ext threadrun"),
                             new_code_cell("%%threadrun -m echo:a,echo:b -t 0,1 --no-log\nuser: hi")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[1].outputs
    lines = [o["data"]["text/plain"] for o in outputs if "text/plain" in o.get("data", {})
             and o["data"]["text/plain"].startswith("threadrun:")]
    assert len(lines) == 1, json.dumps(outputs)[:2000]
    assert lines[0].startswith("threadrun: 4/4 runs in ")
    html = next(o["data"]["text/html"] for o in outputs
                if "threadrun: 4/4" in o.get("data", {}).get("text/html", ""))
    assert "width:100.0%" in html and "<style" not in html
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)

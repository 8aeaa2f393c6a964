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
    assert lines[0].startswith("threadrun: 4/4 runs in ") and "completed=4" in lines[0]
    html = next(o["data"]["text/html"] for o in outputs
                if "threadrun: 4/4" in o.get("data", {}).get("text/html", ""))
    assert "width:100.0%" in html and "<style" not in html
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


def test_a_small_grid_shows_each_runs_text_as_it_streams_then_the_table(tmp_path):
    """Issue 22 point 7: streaming was invisible. The progress output shows the text of each
    running run while it streams; at the end only the summary line is left, then the table."""
    nb = new_notebook(cells=[
        new_code_cell("%load_ext threadrun"),
        new_code_cell("import threadrun.grid.progress as p\n"
                      "seen = []\n"
                      "class Seeing(p.NotebookProgress):\n"
                      "    def _bundle(self):\n"
                      "        b = super()._bundle(); seen.append(b['text/html']); return b\n"
                      "p.NotebookProgress = Seeing\n"
                      "p.MIN_INTERVAL_S = 0"),
        new_code_cell("%%threadrun -m echo:a,echo:b --no-log\nuser: Tell me about rivers."),
        new_code_cell("print(sum('run 1: echo: Tell me about rivers.' in h for h in seen), "
                      "sum('run 2: echo:' in h for h in seen))")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    first, second = map(int, nb.cells[3].outputs[0]["text"].split())
    assert first >= 1 and second >= 1  # each run's text was shown while it streamed
    final = [o for o in nb.cells[2].outputs if "threadrun: 2/2" in o.get("data", {}).get("text/html", "")]
    assert final and "run 1:" not in final[0]["data"]["text/html"]  # gone at the end
    assert any("text/html" in o.get("data", {}) and "<table" in o["data"]["text/html"]
               for o in nb.cells[2].outputs)

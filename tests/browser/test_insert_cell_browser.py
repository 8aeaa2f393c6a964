"""form.insert_cell() in a real JupyterLab: the form's cell appears below and runs to the same rows.

A widget button cannot insert a cell in JupyterLab (a click is a comm message, which carries no
set_next_input payload: jupyterlab#8893), so the form's cell is inserted from a running cell.
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

SETUP = """\
import threadrun
form = threadrun.form(models=["gpt-4o", "gpt-4o-mini"], temperature="0, 1",
                      messages=[{"role": "user", "content": "Name a river."}])
form_rows = form.run(wait=True)
for r in form_rows.itertuples():
    print(f"ROW|{r.model}|{r.temperature:g}|{r.reply}")
form.insert_cell()"""


def test_insert_cell_puts_the_forms_cell_below_and_it_runs_to_the_same_rows(lab, page, tmp_path):
    from playwright.sync_api import expect

    nb = new_notebook(cells=[new_code_cell("%load_ext threadrun"), new_code_cell(SETUP)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    nbformat.write(nb, lab.root / "insert.ipynb")
    try:
        page.goto(f"{lab.url}/lab/tree/insert.ipynb?reset&token={lab.token}")
        idle = page.locator(".jp-StatusBar-TextItem", has_text="Python 3 (ipykernel) | Idle")
        expect(idle).to_be_visible(timeout=60_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.click('.lm-Menu-item:has-text("Run All Cells")')
        cells = page.locator(".jp-Notebook .jp-Cell")
        expect(cells).to_have_count(3, timeout=60_000)  # the inserted cell
        inserted = cells.nth(2)
        expect(inserted.locator(".jp-InputArea")).to_contain_text(
            "%%threadrun --model gpt-4o,gpt-4o-mini --temperature 0,1", timeout=30_000)
        expect(idle).to_be_visible(timeout=30_000)
        inserted.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        rows = inserted.locator(".jp-OutputArea-output table tbody tr")
        expect(rows).to_have_count(4, timeout=60_000)
        expect(idle).to_be_visible(timeout=30_000)
        # the same grid, the same replies as the form's own run (printed by the setup cell)
        printed = cells.nth(1).locator(".jp-OutputArea-output").all_inner_texts()
        expected = [line.split("|")[1:] for text in printed for line in text.splitlines()
                    if line.startswith("ROW|")]
        heads = [h.replace("\u200b", "").strip()
                 for h in inserted.locator(".jp-OutputArea-output table thead th").all_inner_texts()]
        got = []
        for i in range(4):
            tds = rows.nth(i).locator("td").all_inner_texts()
            got.append([tds[heads.index(name) - 1].strip() for name in ("model", "temperature", "reply")])
        assert len(expected) == 4
        assert [[m, f"{float(t):g}", r] for m, t, r in got] == expected
    finally:
        folder = Path(os.environ.get("THREADRUN_ARTIFACTS") or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / "insert-cell.png"))

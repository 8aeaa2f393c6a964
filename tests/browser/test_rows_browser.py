"""A %%threadrun grid in a real JupyterLab and Chromium: the columns people compare are on screen.

In a 1,400 px wide window, with no horizontal scrolling, ``model``, ``status``,
``total_tokens``, ``cost_usd`` and the start of ``reply`` must be visible, replies take at most
a few lines, and costs read as dollars. A screenshot goes to $THREADRUN_ARTIFACTS/rows.png.
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

WIDTH = 1400
THREAD = ("user: Summarise the water cycle for a ten-year-old, in two sentences, mentioning "
          "evaporation, condensation and precipitation, and say why it matters for farms.")


def _screenshot(tmp_path: Path, name: str) -> Path:
    folder = os.environ.get("THREADRUN_ARTIFACTS")
    path = Path(folder) / name if folder else tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_a_grid_shows_model_status_tokens_cost_and_reply_without_scrolling(lab, page, tmp_path):
    from playwright.sync_api import expect

    nb = new_notebook(cells=[new_code_cell("%load_ext threadrun"),
                             new_code_cell("%%threadrun -m gpt-4o-mini,gpt-4o -t 0,0.5,1 -n 2\n" + THREAD)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    nbformat.write(nb, lab.root / "rows.ipynb")
    shot = _screenshot(tmp_path, "rows.png")
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    try:
        page.goto(f"{lab.url}/lab/tree/rows.ipynb?reset&token={lab.token}")
        idle = page.locator(".jp-StatusBar-TextItem", has_text="Python 3 (ipykernel) | Idle")
        expect(idle).to_be_visible(timeout=60_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.click('.lm-Menu-item:has-text("Run All Cells")')
        table = page.locator(".jp-OutputArea-output table").last
        rows = table.locator("tbody tr")
        expect(rows).to_have_count(12, timeout=60_000)
        heads = [h.replace("\u200b", "").strip() for h in table.locator("thead th").all_inner_texts()]
        for name in ("model", "status", "total_tokens", "cost_usd", "reply"):
            cell = table.locator("thead th").nth(heads.index(name))
            box = cell.bounding_box()
            assert box is not None and box["x"] + min(box["width"], 60) <= WIDTH, (name, box)
        first = rows.first.locator("td")
        reply = first.nth(heads.index("reply") - 1)
        assert reply.inner_text().startswith("echo: Summarise the water cycle")
        assert reply.bounding_box()["x"] < WIDTH - 100, "the reply starts off-screen"
        # the reply's header text starts over the reply, not at the far right of its 34em
        # column, where it read as the next column's header (seen in JupyterLab, issue 11 check)
        head_x = table.locator("thead th").nth(heads.index("reply")).evaluate(
            "e => { const r = document.createRange(); r.selectNodeContents(e); "
            "return r.getBoundingClientRect().x; }")
        assert abs(head_x - reply.bounding_box()["x"]) < 24, (head_x, reply.bounding_box())
        assert rows.first.bounding_box()["height"] < 62, "a reply takes more than two lines"
        assert first.nth(heads.index("cost_usd") - 1).inner_text().startswith("$0.0")
    finally:
        page.screenshot(path=str(shot))
        print(f"screenshot: {shot}")

"""Rows as a saved notebook shows them, opened untrusted (as GitHub, nbviewer and a fresh
JupyterLab open a notebook someone sent): readable without <style>, replies as text (never TeX),
headers that are the column names, and a failed run's reason where the reply would be.

Screenshot: $THREADRUN_ARTIFACTS/saved-rows-untrusted.png.
"""
from __future__ import annotations

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from test_rows_browser import WIDTH, _screenshot

CELLS = [
    "%load_ext threadrun",
    # two providers: echo answers, "mine" points at a closed port and fails to connect
    "import os, pathlib\n"
    "home = pathlib.Path(os.environ['THREADRUN_HOME']); home.mkdir(parents=True, exist_ok=True)\n"
    "(home / 'providers.toml').write_text('[providers.mine]\\napi = \"chat\"\\n"
    "base_url = \"http://127.0.0.1:9/v1\"\\nkey_required = false\\nlocal = true\\n')",
    "%%threadrun -m echo:gpt-5.4-mini,mine:tiny -n 2 --max-retries 0\n"
    "user: Is it $5 or $10 a month? Say which, and why the other price is wrong for a student.",
]


def _executed(path, lab):
    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(lab.root)}},
                   ).execute()
    nbformat.write(nb, path)  # never signed: JupyterLab opens it untrusted
    return nb


def test_saved_rows_read_well_untrusted_with_text_replies_and_failures_in_sight(lab, page, tmp_path):
    from playwright.sync_api import expect

    nb = _executed(lab.root / "saved.ipynb", lab)
    html = nb.cells[-1].outputs[-1]["data"]["text/html"]
    assert "<style" not in html and "\u200b" not in html
    shot = _screenshot(tmp_path, "saved-rows-untrusted.png")
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    try:
        page.goto(f"{lab.url}/lab/tree/saved.ipynb?reset&token={lab.token}")
        table = page.locator(".jp-OutputArea-output table").last
        rows = table.locator("tbody tr")
        expect(rows).to_have_count(4, timeout=60_000)
        heads = [h.strip() for h in table.locator("thead th").all_inner_texts()]
        assert "total_tokens" in heads and "reply" in heads  # the names, nothing invisible
        reply_at = heads.index("reply") - 1  # the index column has a th, not a td
        ok, failed = rows.nth(0).locator("td"), rows.nth(2).locator("td")
        assert ok.nth(reply_at).inner_text().startswith("echo: Is it $5 or $10 a month?")
        assert page.locator(".jp-OutputArea-output mjx-container").count() == 0, "typeset as math"
        why = failed.nth(reply_at)
        assert why.inner_text().startswith("failed: "), why.inner_text()
        assert why.locator("div").evaluate("e => getComputedStyle(e).color") == "rgb(176, 0, 32)"
        box = why.bounding_box()
        assert box is not None and box["x"] + 100 < WIDTH, "the failure's reason is off-screen"
        for i in range(4):  # styles survived without trust: replies wrap in a wide cell
            assert rows.nth(i).bounding_box()["height"] < 62, f"row {i} is too tall"
        assert ok.nth(reply_at).bounding_box()["width"] > 300
        assert rows.nth(0).locator("th").first.inner_text().strip() == "0"
    finally:
        page.screenshot(path=str(shot))
        print(f"screenshot: {shot}")


def test_a_saved_form_opened_untrusted_shows_a_picture_of_itself_not_its_repr(lab, page, tmp_path):
    from playwright.sync_api import expect

    nb = nbformat.read(lab.root / "form.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(lab.root)}}).execute()
    nbformat.write(nb, lab.root / "form-saved.ipynb")  # unsigned: opened untrusted
    shot = _screenshot(tmp_path, "saved-form-untrusted.png")
    try:
        page.goto(f"{lab.url}/lab/tree/form-saved.ipynb?reset&token={lab.token}")
        picture = page.locator(".jp-OutputArea-output", has_text="threadrun form").first
        expect(picture).to_be_visible(timeout=60_000)
        assert "a picture: run this cell in a live kernel" in picture.inner_text()
        assert page.locator(".jp-OutputArea-output", has_text="ThreadrunForm(").count() == 0
        assert picture.locator("table tr").count() >= 5  # the fields, one per row
    finally:
        page.screenshot(path=str(shot))
        print(f"screenshot: {shot}")

"""notebooks/form.ipynb in a real JupyterLab and Chromium: Run two models, then a one-line error.

The notebook runs the form once from Python on the embedded runtime (6 rows);
the test then picks two other models and one temperature, presses Run and waits for the
DataFrame under the form to show 8 rows; then temperature 5 shows the error on one line.
A screenshot is saved to $THREADRUN_ARTIFACTS/form.png (else the test's tmp folder).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

ROWS_FROM_NOTEBOOK = 6  # 2 models x 3 temperatures, run by the notebook itself
TIMEOUT = 30_000


def _screenshot_path(tmp_path: Path) -> Path:
    folder = os.environ.get("THREADRUN_ARTIFACTS")
    path = Path(folder) / "form.png" if folder else tmp_path / "form.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_form_in_jupyterlab(lab, page, tmp_path):
    from playwright.sync_api import expect

    shot = _screenshot_path(tmp_path)
    try:
        page.goto(f"{lab.url}/lab/tree/form.ipynb?reset&token={lab.token}")
        # not the execution indicator: it reads "idle" before a kernel exists (recipe pitfall 1)
        idle = page.locator(".jp-StatusBar-TextItem", has_text="Python 3 (ipykernel) | Idle")
        expect(idle).to_be_visible(timeout=60_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.click('.lm-Menu-item:has-text("Run All Cells")')

        form = page.locator(".threadrun-form")
        rows = form.locator(".threadrun-results table.dataframe tbody tr")
        expect(rows).to_have_count(ROWS_FROM_NOTEBOOK, timeout=60_000)
        # the last cell: the form's experiment as a %%threadrun cell
        expect(page.locator(".jp-Cell").last.locator(".jp-OutputArea-output")).to_contain_text(
            "%%threadrun --model gpt-5.4,gpt-5.4-mini", timeout=TIMEOUT)  # notebooks/form.ipynb
        expect(idle).to_be_visible(timeout=TIMEOUT)

        form.locator(".threadrun-models select").select_option(["gpt-4.1-mini", "gpt-4o"])
        temperature = form.locator(".threadrun-temperature")
        temperature.locator("button", has_text=re.compile(r"^\s*list\s*$")).click()
        temperature.locator("input[type=text]").fill("0.3")
        run = form.locator("button.threadrun-run")
        run.click()

        expect(rows).to_have_count(ROWS_FROM_NOTEBOOK + 2, timeout=TIMEOUT)
        expect(form.locator(".threadrun-status")).to_contain_text("done: 2 rows (2 completed)",
                                                                  timeout=TIMEOUT)
        expect(run).to_be_enabled()
        # newest rows first: this run's two rows lead the table (the whole table newest first)
        for index, model in ((0, "gpt-4o"), (1, "gpt-4.1-mini")):
            cells = rows.nth(index).locator("td")  # model, provider, temperature, top_p, status, ...
            expect(cells.nth(0)).to_have_text(model)
            expect(cells.nth(1)).to_have_text("echo")
            expect(cells.nth(2)).to_have_text(re.compile(r"^0\.30*$"))
            expect(cells.nth(4)).to_have_text("completed")

        temperature.locator("input[type=text]").fill("5")
        run.click()
        error = form.locator(".threadrun-error")
        expect(error).to_contain_text("temperature must be between 0 and 2, got 5",
                                      timeout=TIMEOUT)
        text = error.inner_text().strip()
        assert "\n" not in text and "Traceback" not in text, text
        assert error.bounding_box()["height"] < 40, "the error takes more than one line"
        expect(rows).to_have_count(ROWS_FROM_NOTEBOOK + 2)  # nothing ran
        expect(page.locator(".jp-OutputArea-output[data-mime-type*=error]")).to_have_count(0)
        form.scroll_into_view_if_needed()
    finally:
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")

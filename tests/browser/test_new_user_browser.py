"""What a new user sees in JupyterLab (issue 22): a single run streams into a progress line that
ends as a summary (no widget), the echo notice is not on stderr's red, a model going away is
warned of, and the form has + user / + assistant, a token cap and ttft_s in its table.

Screenshots: $THREADRUN_ARTIFACTS/new-user-cells.png and new-user-form.png.
"""
from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from test_rows_browser import _screenshot

CELLS = [
    "%load_ext threadrun",
    "%%threadrun -m gpt-5.4-mini -t 0.5\nuser: Is it $5 or $10 a month?",
    "import os  # an OpenAI key, and a base URL where nothing answers: the run fails, the warning shows\n"
    "os.environ.update(OPENAI_API_KEY='sk-new-user-0000000000000000', OPENAI_BASE_URL='http://127.0.0.1:9/v1')",
    "%%threadrun -m openai:gpt-5-mini --max-retries 0 --no-log\nuser: hi",
    "form = threadrun.form(models=['echo:gpt-5.4-mini'], "
    "messages=[{'role': 'user', 'content': 'Name a river.'}])\nimport threadrun\nform",
]


def _notebook(lab) -> None:
    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS[:4]]
                      + [new_code_cell("import threadrun\n" + CELLS[4].replace("\nimport threadrun", ""))],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    nbformat.write(nb, lab.root / "new-user.ipynb")


def test_a_new_user_sees_streaming_a_plain_notice_a_shutdown_warning_and_the_forms_fields(
        lab, page, tmp_path):
    from playwright.sync_api import expect

    _notebook(lab)
    cells_shot = _screenshot(tmp_path, "new-user-cells.png")
    form_shot = _screenshot(tmp_path, "new-user-form.png")
    page.set_viewport_size({"width": 1400, "height": 1200})
    try:
        page.goto(f"{lab.url}/lab/tree/new-user.ipynb?reset&token={lab.token}")
        idle = page.locator(".jp-StatusBar-TextItem", has_text="Python 3 (ipykernel) | Idle")
        expect(idle).to_be_visible(timeout=60_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.click('.lm-Menu-item:has-text("Run All Cells")')

        run_cell = page.locator(".jp-CodeCell").nth(1)
        expect(run_cell.locator("table tbody tr")).to_have_count(1, timeout=60_000)
        expect(run_cell).to_contain_text("threadrun: 1/1 runs in", timeout=30_000)  # the summary
        assert run_cell.locator(".jupyter-widgets").count() == 0  # no widget to go stale
        stderr = run_cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        assert "without a provider prefix" not in " ".join(stderr.all_inner_texts())  # not on red
        expect(run_cell).to_contain_text("models without a provider prefix run on echo")
        assert run_cell.locator("mjx-container").count() == 0  # "$5 or $10" stays text

        warn_cell = page.locator(".jp-CodeCell").nth(3)
        expect(warn_cell).to_contain_text("its snapshot gpt-5-mini-2025-08-07 is shut down on 2026-12-11",
                                          timeout=30_000)
        page.screenshot(path=str(cells_shot), full_page=True)

        form = page.locator(".threadrun-form")
        expect(form).to_be_visible(timeout=30_000)
        expect(form.locator("button.threadrun-msg-add-user")).to_have_text("+ user")
        expect(form.locator("button.threadrun-msg-add-assistant")).to_have_text("+ assistant")
        form.locator("button.threadrun-msg-add-user").click()
        expect(form.locator(".threadrun-message")).to_have_count(2)
        roles = form.locator(".threadrun-message select")
        assert roles.nth(1).input_value() == "user"  # the role is what the button said
        form.locator(".threadrun-message textarea").nth(1).fill("And its length?")
        cap = form.locator(".threadrun-max-completion-tokens input")
        cap.fill("300")
        form.locator("button.threadrun-run").click()
        table = form.locator(".threadrun-results table")
        expect(table.locator("tbody tr")).to_have_count(1, timeout=30_000)
        heads = [h.strip() for h in table.locator("thead th").all_inner_texts()]
        assert "ttft_s" in heads, heads
        form.scroll_into_view_if_needed()
        page.screenshot(path=str(form_shot), full_page=True)
    except Exception:
        page.screenshot(path=str(cells_shot), full_page=True)
        raise

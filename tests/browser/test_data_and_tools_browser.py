"""What a data scientist sees in JupyterLab with this session's features (issues 23 and 24):
inputs from a DataFrame with a score, the comparison with its intervals, a re-run from the log,
a function tool answered in the kernel, a thread continued, and a dry run's forecast whose
input tokens come from the log or are counted by the provider.

Screenshots: $THREADRUN_ARTIFACTS/data-and-tools.png, and data-and-tools-forecast.png (the
last cell, below the first one's fold).
"""
from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from test_rows_browser import _screenshot

CELLS = [
    "%load_ext threadrun\nimport pandas as pd\nimport threadrun\n"
    "tickets = pd.DataFrame({'text': ['refund please', 'where is my order', 'refund now'],\n"
    "                        'answer': ['refund', 'order', 'refund']})",
    "%%threadrun --over tickets -m echo:a,echo:b -n 2 --score contains:refund --no-log --out scored\n"
    "user: {text}",
    "threadrun.compare(scored, by='model', values='score')",
    "%%threadrun --over tickets -m echo:a -n 2 --log {log}\nuser: {{text}}",
    "%%threadrun --over tickets -m echo:a -n 2 --log {log}\nuser: {{text}}",
    "def get_weather(query: str) -> str:\n    \"\"\"Today's weather for a place.\"\"\"\n"
    "    return 'sunny, 21 C'\n",
    "%%threadrun -m echo:a --tools get_weather --no-log --out first\n"
    "user: what does get_weather say about Paris?",
    "%%threadrun --continue first --no-log\nuser: And tomorrow?",
    "%%threadrun --over tickets -m echo:a,echo:b --dry-run --max-completion-tokens 300 --log {log}\n"
    "user: {{text}}",
]


def _notebook(lab) -> None:
    log = lab.root / "runs.sqlite"
    cells = [c.replace("{log}", str(log)) if "--log {log}" in c else c for c in CELLS]
    cells = [c.replace("{{text}}", "{text}") for c in cells]
    nb = new_notebook(cells=[new_code_cell(c) for c in cells],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    nbformat.write(nb, lab.root / "data-and-tools.ipynb")


def test_inputs_scores_intervals_a_free_rerun_a_tool_and_a_continued_thread_read_well(
        lab, page, tmp_path):
    from playwright.sync_api import expect

    _notebook(lab)
    shot = _screenshot(tmp_path, "data-and-tools.png")
    page.set_viewport_size({"width": 1400, "height": 2400})
    try:
        page.goto(f"{lab.url}/lab/tree/data-and-tools.ipynb?reset&token={lab.token}")
        idle = page.locator(".jp-StatusBar-TextItem", has_text="Python 3 (ipykernel) | Idle")
        expect(idle).to_be_visible(timeout=60_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.click('.lm-Menu-item:has-text("Run All Cells")')
        cells = page.locator(".jp-CodeCell")

        scored = cells.nth(1)  # 3 inputs × 2 models × 2 repeats, scored
        expect(scored.locator("table tbody tr")).to_have_count(12, timeout=60_000)
        heads = [h.strip() for h in scored.locator("thead th").all_inner_texts()]
        assert "input" in heads and "score" in heads, heads

        compared = cells.nth(2)  # one row per model, its interval said under the table
        expect(compared).to_contain_text("ci_low", timeout=30_000)
        expect(compared).to_contain_text("95% intervals")

        again = cells.nth(4)  # the same cell again: every row from the log, said in one line
        expect(again).to_contain_text("6 of 6 rows came from the run log", timeout=30_000)
        expect(again.locator("table tbody tr")).to_have_count(6)

        tool = cells.nth(6)
        expect(tool.locator("table tbody tr")).to_have_count(1, timeout=30_000)
        expect(tool).to_contain_text("sunny, 21 C")
        expect(tool).to_contain_text("completed")

        continued = cells.nth(7)
        expect(continued.locator("table tbody tr")).to_have_count(1, timeout=30_000)
        expect(continued).to_contain_text("And tomorrow?")
        assert "without a provider prefix" not in continued.inner_text()  # its models are the rows'

        forecast = cells.nth(8)  # echo:a's prompts are in the log; echo:b's are counted first
        expect(forecast).to_contain_text("forecast echo:a: 3 runs; input", timeout=30_000)
        expect(forecast).to_contain_text("tokens (log history)")
        expect(forecast).to_contain_text("tokens (counted by the provider)")
        expect(forecast).to_contain_text("input tokens of echo:b counted by echo")
        forecast.scroll_into_view_if_needed()
        forecast.screenshot(path=str(shot.with_name("data-and-tools-forecast.png")))
        page.screenshot(path=str(shot), full_page=True)
    except Exception:
        page.screenshot(path=str(shot), full_page=True)
        raise

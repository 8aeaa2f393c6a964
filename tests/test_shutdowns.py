"""Models going away: a one-line notice before sending to a model within 30 days of (or past) its
vendor's shutdown date, from the catalog's dated table."""
from __future__ import annotations

import datetime

from threadrun.providers import catalog
from threadrun.grid import notices
from threadrun.grid.plan import Job


def jobs(*models):
    return [Job(i, m, None, 1, {"model": m}) for i, m in enumerate(models)]


def test_an_alias_within_30_days_of_its_snapshots_shutdown_gets_one_line_with_a_replacement():
    lines = notices.shutdown_lines(jobs("openai:gpt-5-mini", "openai:gpt-5-mini"),
                                   today=datetime.date(2026, 12, 3))
    assert lines == ["openai:gpt-5-mini: its snapshot gpt-5-mini-2025-08-07 is shut down on "
                     "2026-12-11 (in 8 days) by its vendor (the alias then runs another snapshot, "
                     "or fails); pick a model that stays, e.g. gpt-5.4-mini"]


def test_the_notice_starts_30_days_before_and_says_past_dates_in_the_past():
    day = datetime.date(2026, 12, 11)
    assert notices.shutdown_lines(jobs("gpt-5-mini-2025-08-07"), today=day - datetime.timedelta(31)) == []
    assert notices.shutdown_lines(jobs("gpt-5-mini-2025-08-07"), today=day - datetime.timedelta(30))
    past = notices.shutdown_lines(jobs("gpt-4"), today=datetime.date(2026, 12, 3))
    assert past == ["gpt-4: gpt-4 was shut down on 2026-10-23 by its vendor; pick a model that "
                    "stays, e.g. gpt-4.1"]


def test_other_providers_and_live_models_get_no_notice():
    today = datetime.date(2026, 12, 3)
    assert notices.shutdown_lines(jobs("ollama:gpt-5-mini", "echo:gpt-4", "openai:gpt-5.4-mini"),
                                  today=today) == []
    assert catalog.shutdown("gpt-5.4-mini") is None


def test_the_notice_is_printed_before_a_sweep_on_stderr(ip, capfd):
    ip.run_cell_magic("threadrun", "-m gpt-4 --no-log", "user: hi")
    err = capfd.readouterr().err
    assert "threadrun: gpt-4: gpt-4 was shut down on 2026-10-23" in err


def test_the_forms_model_list_offers_live_models_only():
    live = catalog.live_models(today=datetime.date(2026, 12, 3))
    assert "gpt-5.4-mini" in live and "gpt-4o" in live
    assert "gpt-5-mini" not in live  # its snapshot goes on 2026-12-11
    assert "gpt-3.5-turbo" not in live and not any("preview" in m for m in live)
    assert "gpt-5-mini" in catalog.live_models(today=datetime.date(2026, 10, 1))  # 71 days before

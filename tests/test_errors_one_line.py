"""Environmental problems (an unusable run log, an unwritable home, an odd server answer) are
threadrun's own one-line errors or warnings, never a raw traceback in the notebook."""
from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

import pytest

from threadrun.client import assistant
from threadrun.rows import runlog
from threadrun.client import Client
from threadrun.errors import APIError, ThreadrunError


def one_usage_error(ip, capsys, cell: str) -> str:
    """Run a cell that must fail; the single line it shows (checked to be a UsageError)."""
    result = ip.run_cell(cell)
    captured = capsys.readouterr()
    shown = (captured.out + captured.err).strip()
    assert type(result.error_in_exec).__name__ == "UsageError", result.error_in_exec
    assert "Traceback" not in shown
    assert shown.count("\n") == 0, shown
    assert shown.startswith("UsageError: "), shown
    return shown


# -- the run log ---------------------------------------------------------------------------------

def test_an_unusable_log_path_is_one_usage_error_line_and_sends_nothing(ip, server, capsys):
    server.reset_counts()
    shown = one_usage_error(ip, capsys, "%%threadrun --log /proc/nope/x.sqlite\nuser: hi")
    assert shown == ("UsageError: cannot open the run log /proc/nope/x.sqlite: cannot create the "
                     "folder /proc/nope: No such file or directory")
    assert sum(server.counts.values()) == 0


def test_a_folder_as_the_log_is_one_usage_error_line(ip, server, capsys, tmp_path):
    shown = one_usage_error(ip, capsys, f"%%threadrun --log {tmp_path}\nuser: hi")
    assert str(tmp_path) in shown and "folder" in shown
    assert sum(server.counts.values()) == 0


def test_a_read_only_log_location_is_one_usage_error_line(ip, server, capsys):
    shown = one_usage_error(ip, capsys, "%%threadrun --log /proc/threadrun-x.sqlite\nuser: hi")
    assert "/proc/threadrun-x.sqlite" in shown and "unable to open database file" in shown


def test_a_locked_log_is_one_usage_error_line(ip, server, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(runlog, "BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "locked.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        shown = one_usage_error(ip, capsys, f"%%threadrun --log {path}\nuser: hi")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(path) in shown and "database is locked" in shown


def test_threadrun_log_of_a_folder_is_one_usage_error_line(ip, capsys, tmp_path):
    shown = one_usage_error(ip, capsys, f"%threadrun log --path {tmp_path}")
    assert str(tmp_path) in shown and "folder" in shown


def test_runlog_errors_are_threadrun_errors_for_python_callers(tmp_path):
    for path in (Path("/proc/nope/x.sqlite"), tmp_path):
        with pytest.raises(ThreadrunError) as caught:
            runlog.RunLog(path)
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)


# -- the scratch assistant cache -----------------------------------------------------------------

def unwritable_home(tmp_path: Path, monkeypatch) -> Path:
    """THREADRUN_HOME below a regular file: no folder can be made there, not even by root."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("THREADRUN_HOME", str(blocker / "home"))
    return blocker


def cache_warnings(caught: list[warnings.WarningMessage], capsys) -> list[str]:
    """The "could not cache" lines said through threadrun's notices (never a Python warning)."""
    assert not [w for w in caught if "could not cache" in str(w.message)]
    return [line for line in capsys.readouterr().err.splitlines() if "could not cache" in line]


def test_remember_in_an_unwritable_home_warns_one_line_and_does_not_raise(tmp_path, monkeypatch, capsys):
    unwritable_home(tmp_path, monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assistant.remember("http://x", "asst_1")
    [message] = cache_warnings(caught, capsys)
    assert "\n" not in message and str(assistant.cache_path()) in message
    assert "Not a directory" in message
    assert assistant.cached("http://x") is None


def test_remember_that_cannot_replace_the_file_warns_and_leaves_no_temporary(tmp_path, monkeypatch, capsys):
    home = tmp_path / "threadrun-home"
    (home / "assistants.json").mkdir(parents=True)  # something in the way of the cache file
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assistant.remember("http://x", "asst_1")
    [message] = cache_warnings(caught, capsys)
    assert "\n" not in message
    assert [p.name for p in home.iterdir()] == ["assistants.json"]


def test_resolve_in_an_unwritable_home_still_gives_the_scratch_assistant(tmp_path, monkeypatch,
                                                                          server, capsys):
    unwritable_home(tmp_path, monkeypatch)
    client = Client(server.url, None)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            asst = assistant.resolve(client)
    finally:
        client.close()
    assert asst.startswith("asst_")
    assert len(cache_warnings(caught, capsys)) == 1


def test_a_run_in_an_unwritable_home_completes_with_one_warning(ip, server, tmp_path, monkeypatch, capsys):
    unwritable_home(tmp_path, monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = ip.run_cell_magic("threadrun", "--no-log -m gpt-4o-mini", "user: hi")
    assert list(df["status"]) == ["completed"]
    [message] = cache_warnings(caught, capsys)
    assert "\n" not in message


class StubClient:
    """Answers POST /assistants with whatever the test says."""

    base_url = "http://stub.invalid/v1"

    def __init__(self, answer):
        self.answer = answer

    def get_assistant(self, assistant_id):  # pragma: no cover - nothing is cached
        raise AssertionError("nothing is cached")

    def create_assistant(self, model):
        return self.answer


@pytest.mark.parametrize("answer", [{}, {"object": "assistant"}, {"id": None}, {"id": 42},
                                    {"id": ""}, ["asst_1"]])
def test_a_create_assistant_answer_without_an_id_is_an_api_error(answer):
    with pytest.raises(APIError) as caught:
        assistant.resolve(StubClient(answer))
    assert caught.value.message == "the server answered POST /assistants without an id"
    assert "\n" not in str(caught.value)
    assert assistant.cached(StubClient.base_url) is None


def test_a_run_whose_assistant_has_no_id_gets_error_rows_not_a_traceback(ip, server, monkeypatch):
    monkeypatch.setattr(Client, "create_assistant", lambda self, model, name="x": {"object": "x"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ip.run_cell_magic("threadrun", "--no-log -m gpt-4o-mini", "user: hi")
    assert list(df["status"]) == ["error"]
    assert "without an id" in df.loc[0, "error"]

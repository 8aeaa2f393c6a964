"""The form, driven from Python against the local server: value, Run, errors, Stop, Copy as cell."""
from __future__ import annotations

import shlex
import time
import warnings

import pytest

from threadrun import api
from threadrun.faces.form import DEFAULTS, ThreadrunForm, show_form
from threadrun.faces.form_widgets import expand_range

CREATE = "POST /threads/runs"
CANCEL = "POST /threads/{thread_id}/runs/{run_id}/cancel"


@pytest.fixture(autouse=True)
def a_question(monkeypatch):
    """These tests run a thread that asks something (a new form starts with an empty user message)."""
    monkeypatch.setitem(DEFAULTS, "messages", [{"role": "user", "content": "Say hello."}])


@pytest.fixture
def form(server, monkeypatch):
    monkeypatch.setenv("THREADRUN_BASE_URL", server.url)
    f = show_form(messages=[{"role": "user", "content": "Say hello."}])
    yield f
    f.stop()
    f.wait(10)


def wait_done(form: ThreadrunForm, timeout: float = 20) -> None:
    assert form.wait(timeout), "the form's runs did not finish in time"


def until(predicate, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def table_rows(form: ThreadrunForm) -> int:
    outputs = form.output.outputs
    if not outputs:
        return 0
    html = outputs[-1]["data"]["text/html"]
    return html.split("<tbody>")[1].split("</tbody>")[0].count("<tr")


# --- value ---------------------------------------------------------------------------------

def test_value_has_the_defaults_and_is_a_plain_dict():
    form = show_form()
    assert form.value == DEFAULTS
    assert type(form.value) is dict


def test_value_round_trips_and_partial_updates_keep_the_rest():
    value = {"models": ["gpt-4o", "form-test-model"], "temperature": "0, 0.5", "top_p": 0.9,
             "repeat": 3, "concurrency": 2, "assistant": "asst_1", "instructions": "Be brief.",
             "label": "exp", "max_completion_tokens": 300,
             "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    form = show_form(**value)
    assert form.value == value
    assert form.models.known.value == ("gpt-4o",) and form.models.other.value == "form-test-model"
    form.value = {"temperature": {"start": 0, "stop": 1, "step": 0.25}, "top_p": None}
    assert form.value == {**value, "temperature": {"start": 0.0, "stop": 1.0, "step": 0.25},
                          "top_p": None}
    assert form.temperature.mode.value == "range"
    form.value = {"temperature": [0.2, 1]}
    assert form.value["temperature"] == "0.2, 1" and form.temperature.mode.value == "list"


def test_bad_value_keys_and_shapes_are_value_errors():
    form = show_form()
    with pytest.raises(ValueError, match="unknown form field 'modle'"):
        form.value = {"modle": ["gpt-4o"]}
    with pytest.raises(ValueError, match="messages"):
        form.value = {"messages": [{"role": "system", "content": "x"}]}
    with pytest.raises(ValueError, match="messages"):
        form.value = {"messages": "user: hi"}


def test_range_expansion():
    assert expand_range(0, 1, 0.25) == [0, 0.25, 0.5, 0.75, 1]
    assert expand_range(0, 0.3, 0.1) == [0, 0.1, 0.2, 0.3]
    assert expand_range(0.5, 0.5, 1) == [0.5]


def test_message_editor_buttons_add_remove_and_reorder():
    form = show_form(messages=[{"role": "user", "content": "one"}])
    editor = form.messages
    editor.add_assistant.click()  # the role is on the button (issue 22 point 9)
    assert [m["role"] for m in form.value["messages"]] == ["user", "assistant"]
    editor.rows[1].text.value = "two"
    editor.rows[1].box.children[2].click()  # up
    assert [m["content"] for m in form.value["messages"]] == ["two", "one"]
    editor.rows[0].box.children[3].click()  # down
    assert [m["content"] for m in form.value["messages"]] == ["one", "two"]
    editor.rows[0].box.children[4].click()  # remove
    assert form.value["messages"] == [{"role": "assistant", "content": "two"}]
    assert len(editor.list.children) == 1


def test_threadrun_form_is_the_function_even_after_its_module_is_imported():
    import threadrun
    import threadrun.faces.form  # noqa: F401
    assert isinstance(threadrun.form(), ThreadrunForm)
    assert threadrun.form(models=["gpt-4o"]).value["models"] == ["gpt-4o"]


# --- Run -----------------------------------------------------------------------------------

def test_run_button_runs_the_grid_and_rows_accumulate(form, server):
    form.value = {"models": ["gpt-4o", "gpt-4o-mini"], "temperature": "0, 1", "repeat": 2,
                  "label": "first", "instructions": "Be brief.",
                  "messages": [{"role": "user", "content": "hello"}]}
    form.run_button.click()
    wait_done(form)
    df = form.results
    assert len(df) == 8 and (df["status"] == "completed").all()
    assert list(df["model"]) == ["gpt-4o"] * 4 + ["gpt-4o-mini"] * 4
    assert list(df["temperature"]) == [0, 0, 1, 1] * 2 and list(df["repeat"]) == [0, 1] * 4
    assert df["reply"].str.startswith("echo: hello").all() and (df["label"] == "first").all()
    assert form.progress.value == form.progress.max == 8
    assert table_rows(form) == 8 and "completed" in form.status.value
    assert not form.run_button.disabled and form.stop_button.disabled and form.error == ""
    assert server.runs_created == 8

    form.value = {"models": ["gpt-4o"], "temperature": "0.5", "repeat": 1, "label": "second"}
    form.run_button.click()
    wait_done(form)
    assert len(form.results) == 9 and list(form.results.index) == list(range(9))
    assert form.results["label"].iloc[-1] == "second" and table_rows(form) == 9
    assert len(form.last) == 1


def test_run_wait_returns_the_new_rows(form):
    form.value = {"temperature": {"start": 0, "stop": 1, "step": 0.5}}
    df = form.run(wait=True)
    assert list(df["temperature"]) == [0, 0.5, 1] and (df["status"] == "completed").all()


def test_run_is_disabled_while_runs_are_in_flight(form, server):
    server.latency = 2.0
    form.value = {"models": ["gpt-4o"], "repeat": 2}
    form.run_button.click()
    # the kernel is not blocked: the click returns while the runs are still going (a click that
    # waited would return with the form idle and both rows in), whatever the machine's load
    assert form.running and len(form.results) == 0
    assert form.run_button.disabled and not form.stop_button.disabled
    form.run_button.click()  # ignored while running
    assert form.run() is None
    wait_done(form)
    assert server.runs_created == 2 and len(form.results) == 2
    assert not form.run_button.disabled


def test_the_form_goes_through_api_command_and_api_execute(form, monkeypatch):
    calls = []
    real_command, real_execute = api.command, api.execute
    monkeypatch.setattr(api, "command", lambda *a, **k: calls.append("command")
                        or real_command(*a, **k))
    monkeypatch.setattr(api, "execute", lambda *a, **k: calls.append("execute")
                        or real_execute(*a, **k))
    form.run(wait=True)
    assert calls == ["command", "execute"] and len(form.results) == 1


# --- errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"temperature": "5"}, "temperature must be between 0 and 2, got 5"),
    ({"temperature": "warm"}, "Temperature expects a number, got 'warm'"),
    ({"temperature": {"start": 0, "stop": 1, "step": 0}}, "step must be more than 0"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_p": "high"}, "top_p expects a number"),
    ({"repeat": 0}, "repeat must be 1 or more"),
    ({"concurrency": 0}, "concurrency must be 1 or more"),
    ({"messages": [{"role": "user", "content": ""}]}, "message 1: empty user message"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]},
     "message 2: empty assistant message"),
    ({"messages": []}, "empty"),
])
def test_validation_errors_show_as_one_line_and_send_nothing(form, server, change, message):
    form.value = change
    form.run_button.click()
    assert message in form.error and "\n" not in form.error
    assert "Traceback" not in form.error_area.value and form.error_area.value.count("<div") == 1
    assert not form.running and not form.run_button.disabled
    assert server.counts == {} and form.output.outputs == () and len(form.results) == 0
    form.value = DEFAULTS
    form.run_button.click()
    wait_done(form)
    assert form.error == "" and form.error_area.value == "" and len(form.results) == 1


def test_an_unknown_model_is_a_note_on_its_own_line_that_clears_on_the_next_run(form):
    form.value = {"models": ["gpt-4o-mnii"]}
    df = form.run(wait=True)
    assert list(df["status"]) == ["completed"] and form.error == ""
    assert form.notes == ["unknown model 'gpt-4o-mnii' (did you mean 'gpt-4o-mini'?); cost will be NaN"]
    assert "gpt-4o-mnii" in form.notes_area.value and "gpt-4o-mnii" not in form.status.value
    form.value = {"models": ["gpt-4o-mini"]}
    form.run(wait=True)
    assert form.notes == [] and form.notes_area.value == ""


def test_a_server_failure_is_a_row_not_an_exception(monkeypatch):
    form = show_form(base_url="http://127.0.0.1:9/v1")
    form.value = {"models": ["gpt-4o"], "temperature": "0, 1"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = form.run(wait=True)
    assert list(df["status"]) == ["error", "error"] and form.error == ""


# --- Stop ----------------------------------------------------------------------------------

def test_stop_cancels_the_runs_in_flight(form, server):
    # Runs take 30 s on the server, so none can complete before Stop even on a loaded machine;
    # Stop returning well inside that shows nobody waited for the runs to end.
    server.latency = 30.0
    form.value = {"models": ["gpt-4o", "gpt-4o-mini"], "temperature": "0, 1", "concurrency": 4}
    started = time.monotonic()
    form.run_button.click()
    until(lambda: form.in_flight == 4)  # the client knows every run's id
    assert server.runs_created == 4
    form.stop_button.click()
    wait_done(form, 20)
    assert time.monotonic() - started <= 15.0  # nobody waited for the runs to end (30 s each)
    assert server.counts[CANCEL] == 4
    df = form.results
    assert len(df) == 4 and (df["status"] == "cancelled").all()
    assert df["error"].str.contains("interrupted by the user").all()
    assert form.status.value.startswith("stopped") and not form.run_button.disabled
    assert form.stop_button.disabled and form.progress.value == 4 and form.in_flight == 0


def test_stop_before_the_sweep_starts_sends_no_run(form, server):
    server.latency = 1.0
    form.value = {"repeat": 3}
    form.stop()  # not running: nothing to do, and it must not spoil the next run
    form.run(wait=True)
    assert len(form.results) == 3 and (form.results["status"] == "completed").all()


# --- Copy as cell --------------------------------------------------------------------------

CASES = {
    "plain": {"models": ["gpt-4o", "gpt-4o-mini"], "temperature": "0, 0.7, 1.2",
              "messages": [{"role": "user", "content": "What is the capital of France?"},
                           {"role": "assistant", "content": "Paris."},
                           {"role": "user", "content": "And of Spain?"}]},
    "options": {"models": ["gpt-4o", "form-test-model"], "top_p": 0.9, "repeat": 2,
                "concurrency": 3, "assistant": "-asst with space", "label": "it's \"quoted\"",
                "instructions": "--Answer in one word; it's fine.",
                "temperature": {"start": 0, "stop": 1, "step": 0.1}},
    "tricky text": {"instructions": "Line one.\n  Line two with {braces}",
                    "messages": [{"role": "user", "content": "use {x} and {{y}}\nnext line"},
                                 {"role": "assistant", "content": "see:\n\n  indented\nend"},
                                 {"role": "user", "content": "Note: keep $HOME and 'quotes'"}]},
    "needs json": {"messages": [{"role": "user", "content": "  leading blanks"},
                                {"role": "assistant", "content": "ok\nuser: not a new message"},
                                {"role": "user", "content": "trailing\n\n"}],
                   "instructions": "multi\nline"},
    "no model no temperature": {"models": [], "temperature": "",
                                "messages": [{"role": "user", "content": "hi"}]},
}


def run_cell(ip, text: str):
    line, cell = text.split("\n", 1)
    assert line.startswith("%%threadrun")
    return ip.run_cell_magic("threadrun", line[len("%%threadrun"):] + " --dry-run", cell)


@pytest.mark.parametrize("name", list(CASES))
def test_copy_as_cell_round_trips_through_the_magic(ip, name):
    form = show_form(**CASES[name])
    ip.user_ns.update(x="NOT SUBSTITUTED", y="NOR THIS")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        form.copy_button.click()
        text = form.cell.value
        bodies = run_cell(ip, text)
        expected = form.dry_run()
    assert text == form.cell_text() and form.cell.layout.display is None
    from threadrun.grid.plan import PENDING_ASSISTANT
    from threadrun.api import SCRATCH
    planned = [{k: (SCRATCH if v == PENDING_ASSISTANT else v) for k, v in job.body.items()}
               for job in form.command().plan()]  # no made-up id shown
    assert bodies == expected == planned
    assert len(bodies) == len(form.command().plan())


def test_copy_as_cell_text_is_readable():
    form = show_form(**CASES["plain"], instructions="Answer in one word.")
    assert form.cell_text() == (
        "%%threadrun --model gpt-4o,gpt-4o-mini --temperature 0,0.7,1.2 "
        "--instructions 'Answer in one word.'\n"
        "user: What is the capital of France?\nassistant: Paris.\nuser: And of Spain?")
    head = shlex.split(show_form(**CASES["options"]).cell_text().split("\n")[0])
    assert "--temperature" in head and head[head.index("--temperature") + 1] == \
        "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1"
    assert show_form(**CASES["needs json"]).cell_text().split("\n")[1].startswith('{"instr')


def test_copy_as_cell_of_an_invalid_form_shows_the_error():
    form = show_form(temperature="9")
    form.copy_button.click()
    assert "temperature must be between 0 and 2" in form.error
    assert form.cell.layout.display == "none"


def test_the_form_runs_provider_models_typed_as_provider_colon_name_on_the_embedded_runtime(monkeypatch):
    monkeypatch.delenv("THREADRUN_BASE_URL", raising=False)
    f = show_form(models=["gpt-4o", "echo:gpt-4.1"])
    assert f.models.other.value == "echo:gpt-4.1"
    rows = f.run(wait=True)
    assert list(rows["model"]) == ["gpt-4o", "gpt-4.1"] and list(rows["provider"]) == ["echo", "echo"]
    assert "--model gpt-4o,echo:gpt-4.1" in f.cell_text()


def test_the_form_says_in_one_line_when_a_providers_key_is_missing(monkeypatch):
    monkeypatch.delenv("THREADRUN_BASE_URL", raising=False)
    f = show_form(models=["anthropic:claude-sonnet-4-5"])
    f.run()
    assert f.error == "provider 'anthropic' needs a key: set $ANTHROPIC_API_KEY"


def test_the_new_messages_role_is_on_its_button_and_the_cap_reaches_the_body():
    form = show_form(messages=[{"role": "user", "content": "one"}],
                     models=["echo:m"], max_completion_tokens=300)
    form.messages.add_user.click()
    form.messages.rows[-1].text.value = "a follow-up question"
    assert [m["role"] for m in form.value["messages"]] == ["user", "user"]
    assert [b["max_completion_tokens"] for b in form.dry_run()] == [300]
    form.messages.add_assistant.click()
    assert form.value["messages"][-1]["role"] == "assistant"
    form.messages.remove(form.messages.rows[-1])
    form.value = {"max_completion_tokens": "lots"}
    assert form.value["max_completion_tokens"] == "lots"
    with pytest.raises(Exception, match="max_completion_tokens"):
        form.dry_run()


def test_a_saved_form_has_a_picture_and_a_one_line_text_besides_the_widget():
    form = show_form(models=["echo:gpt-5.4-mini"], messages=[{"role": "user", "content": "Is it $5?"}])
    bundle = form._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("threadrun form (an interactive widget")
    assert "echo:gpt-5.4-mini" in bundle["text/html"] and "Is it $5?" in bundle["text/html"]
    assert "<style" not in bundle["text/html"] and "ThreadrunForm(" not in str(bundle)

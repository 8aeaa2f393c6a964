"""The form's traps removed: an empty first question, notes on their own line, newest rows first."""
from __future__ import annotations

import pytest

from threadrun.faces.form import show_form


@pytest.fixture
def local(server, monkeypatch):
    monkeypatch.setenv("THREADRUN_BASE_URL", server.url)
    return server


def test_a_new_form_starts_with_one_empty_user_message_and_says_to_fill_it(local):
    form = show_form()
    assert form.value["messages"] == [{"role": "user", "content": ""}]
    form.run()
    assert form.error == "message 1: empty user message" and local.counts == {}


def test_add_message_alternates_roles_after_the_last_one(local):
    form = show_form()
    form.messages.add()
    form.messages.add()
    assert [m["role"] for m in form.value["messages"]] == ["user", "assistant", "user"]


def test_a_thread_ending_on_an_assistant_message_is_noted_before_it_runs(local):
    form = show_form(messages=[{"role": "user", "content": "Capital of France?"},
                               {"role": "assistant", "content": "Paris."}])
    form.run(wait=True)
    assert form.notes[0].startswith("the thread ends on an assistant message (message 2)")


def test_the_newest_rows_are_shown_first(local):
    form = show_form(messages=[{"role": "user", "content": "hi"}], models=["gpt-4o"])
    form.run(wait=True)
    form.value = {"models": ["gpt-4o-mini"]}
    form.run(wait=True)
    html = form.output.outputs[0]["data"]["text/html"]
    assert html.index("gpt-4o-mini") < html.index(">gpt-4o<")
    assert list(form.results["model"]) == ["gpt-4o", "gpt-4o-mini"]  # the value keeps run order


def test_insert_cell_puts_the_forms_cell_below_the_running_one(ip):
    ip.user_ns["the_form"] = show_form(messages=[{"role": "user", "content": "hi"}], models=["gpt-4o"])
    ip.rl_next_input = None
    ip.run_cell("the_form.insert_cell()")
    assert ip.rl_next_input == ip.user_ns["the_form"].cell_text()
    assert ip.rl_next_input.startswith("%%threadrun --model gpt-4o\n")

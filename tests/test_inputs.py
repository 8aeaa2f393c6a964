"""--over / over=: each input row fills the thread's {column} placeholders (issue 23 point 1)."""
from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.error import UsageError

import threadrun
from threadrun import api
from threadrun.errors import ValidationError

TICKETS = pd.DataFrame({"text": ["I want a refund", "Where is my parcel?", "Cancel my order"],
                        "answer": ["refund", "shipping", "cancel"]}, index=[10, 11, 12])


def creates(server):
    return [r.body for r in server.requests if r.route == "POST /threads/runs"]


def test_the_grid_is_inputs_then_models_then_repeats_and_each_row_names_its_input(tmp_path):
    df = threadrun.run("user: {text}", model="echo:a,echo:b", over=TICKETS, repeat=2,
                       log=str(tmp_path / "log.sqlite"), progress=False)
    assert len(df) == 12
    assert list(zip(df["input"], df["model"], df["repeat"])) == [
        (i, m, r) for i in (10, 11, 12) for m in ("a", "b") for r in (0, 1)]
    assert all(reply.startswith(f"echo: {TICKETS.loc[i, 'text']} ")
               for i, reply in zip(df["input"], df["reply"]))


def test_dry_run_has_one_body_per_input_in_grid_order_and_list_of_dicts_work():
    bodies = threadrun.dry_run("system: Be {tone}.\nuser: {text}", model="echo:a",
                               over=[{"text": "one", "tone": "brief"}, {"text": "two", "tone": "kind"}])
    assert [b["thread"]["messages"][0]["content"] for b in bodies] == ["one", "two"]
    assert [b["instructions"] for b in bodies] == ["Be brief.", "Be kind."]


def test_a_notebook_name_fills_what_no_column_does_and_a_column_wins_over_a_name():
    bodies = threadrun.dry_run("user: {greeting}, {text}", model="echo:a", over=TICKETS.head(1),
                               namespace={"greeting": "Hello", "text": "not this"})
    assert bodies[0]["thread"]["messages"][0]["content"] == "Hello, I want a refund"


def test_a_missing_column_is_one_line_naming_it_and_the_columns_before_anything_is_sent(server, monkeypatch):
    monkeypatch.setenv("THREADRUN_BASE_URL", server.url)
    with pytest.raises(ValidationError) as caught:
        threadrun.run("user: {txt}", over=TICKETS, log=False)
    message = str(caught.value)
    assert "no column 'txt'" in message and "did you mean 'text'?" in message
    assert "text, answer" in message and "\n" not in message
    assert server.requests == []


def test_an_input_value_holding_a_key_is_refused_naming_the_variable_not_the_value(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789abcdef")
    rows = [{"text": "fine"}, {"text": "leak tok-0123456789abcdef"}]
    with pytest.raises(ValidationError, match=r"\$MY_SERVICE_TOKEN, a key") as caught:
        threadrun.dry_run("user: {text}", model="echo:a", over=rows)
    assert "0123456789abcdef" not in str(caught.value)


def test_the_guards_of_name_placeholders_hold_for_columns():
    with pytest.raises(ValidationError, match="starting with '_'"):
        threadrun.dry_run("user: {text.__class__}", model="echo:a", over=TICKETS)


def test_duplicate_index_labels_and_empty_or_wrong_inputs_are_one_line_errors():
    with pytest.raises(ValidationError, match="label 1 more than once"):
        threadrun.dry_run("user: {a}", model="echo:a", over=pd.DataFrame({"a": [1, 2]}, index=[1, 1]))
    with pytest.raises(ValidationError, match="no rows"):
        threadrun.dry_run("user: {a}", model="echo:a", over=pd.DataFrame({"a": []}))
    with pytest.raises(ValidationError, match="a DataFrame or a list of dicts, got int"):
        threadrun.dry_run("user: {a}", model="echo:a", over=3)
    with pytest.raises(ValidationError, match=r"pass the DataFrame itself \(over=df\) or namespace="):
        threadrun.dry_run("user: {a}", model="echo:a", over="tickets")
    assert len(threadrun.dry_run("user: {a}", model="echo:a", over="t", namespace={"t": [{"a": 1}]})) == 1
    with pytest.raises(ValidationError, match="cannot go with --no-interpolate"):
        threadrun.dry_run("user: {a}", model="echo:a", over=[{"a": 1}], interpolate=False)


def test_join_puts_the_inputs_columns_beside_the_rows_by_their_label(tmp_path):
    df = threadrun.run("user: {text}", model="echo:a", over=TICKETS, log=False, progress=False)
    joined = threadrun.join(df, TICKETS)
    assert list(joined["answer"]) == ["refund", "shipping", "cancel"]
    assert list(joined["text"]) == list(TICKETS["text"])
    assert list(joined.columns[:len(df.columns)]) == list(df.columns)
    only = threadrun.join(df, TICKETS, columns=["answer"])
    assert "text" not in only.columns
    with pytest.raises(ValidationError, match="no column 'answr'.*did you mean 'answer'"):
        threadrun.join(df, TICKETS, columns=["answr"])


def test_join_with_a_frame_whose_index_matches_no_row_is_one_line_naming_both():
    df = threadrun.run("user: {text}", model="echo:a", over=TICKETS, log=False, progress=False)
    with pytest.raises(ValidationError, match=r"^join: none of the rows' input labels \(10, 11, 12\) "
                                              r"is in the inputs' index \(5\); join the frame the run went over$"):
        threadrun.join(df, pd.DataFrame({"x": [1]}, index=[5]))
    with pytest.raises(ValidationError, match=r"labels \(10, 11, 12\) is in the inputs' index \(0, 1, 2\)"):
        threadrun.join(df, TICKETS.reset_index(drop=True))
    partly = threadrun.join(df, TICKETS.iloc[1:])  # some labels match: the others are missing
    assert partly["answer"].isna().tolist() == [True, False, False]
    assert list(partly["answer"][1:]) == ["shipping", "cancel"]


def test_join_adds_a_column_the_rows_already_have_as_input_name():
    rows = [{"model": "m1", "label": "x"}]
    df = threadrun.run("user: {model}", model="echo:a", over=rows, log=False, progress=False)
    joined = threadrun.join(df, rows)
    assert joined.loc[0, "model"] == "a" and joined.loc[0, "input_model"] == "m1"


def test_the_input_label_survives_the_run_log_int_and_str(tmp_path):
    path = str(tmp_path / "log.sqlite")
    threadrun.run("user: {text}", model="echo:a", over=TICKETS, log=path, label="ints", progress=False)
    named = TICKETS.set_axis(["t1", "t2", "t3"])
    threadrun.run("user: {text}", model="echo:a", over=named, log=path, label="strs", progress=False)
    assert sorted(threadrun.log(label="ints", path=path)["input"]) == [10, 11, 12]  # log order:
    assert sorted(threadrun.log(label="strs", path=path)["input"]) == ["t1", "t2", "t3"]  # finished
    logged = threadrun.log(label="ints", path=path)
    joined = threadrun.join(logged, TICKETS)
    assert all(TICKETS.loc[i, "answer"] == a for i, a in zip(joined["input"], joined["answer"]))


def test_the_log_shows_int_labels_as_the_results_do_beside_rows_without_an_input(tmp_path):
    path = str(tmp_path / "log.sqlite")
    threadrun.run("user: no inputs", model="echo:a", log=path, progress=False)
    ran = threadrun.run("user: {text}", model="echo:a", over=TICKETS, log=path, progress=False)
    logged = threadrun.log(path=path)
    assert logged["input"].dtype == ran["input"].dtype == object
    assert logged["input"].iloc[0] is None and sorted(logged["input"][1:]) == [10, 11, 12]  # log
    assert [type(v) for v in logged["input"][1:]] == [type(v) for v in ran["input"]] == [int] * 3  # order
    assert sorted(str(v) for v in logged["input"][1:]) == ["10", "11", "12"]  # not 10.0


def test_resume_runs_only_the_inputs_not_completed_the_input_is_part_of_a_cell(tmp_path, capsys):
    path = str(tmp_path / "log.sqlite")
    first = threadrun.run("user: {text}", model="echo:a", over=TICKETS.head(2), repeat=2,
                          log=path, label="s", progress=False)
    assert len(first) == 4
    rest = threadrun.run("user: {text}", model="echo:a", over=TICKETS, repeat=2, log=path,
                         resume="s", progress=False)
    assert list(zip(rest["input"], rest["repeat"])) == [(12, 0), (12, 1)]
    assert "4 of 6 runs already completed, 2 to run" in capsys.readouterr().err


def test_the_magic_takes_over_as_a_notebook_variable_and_names_a_missing_one(ip, server):
    ip.user_ns["tickets"] = TICKETS
    df = ip.run_cell_magic("threadrun", "--over tickets -m echo:a", "user: {text}")
    assert list(df["input"]) == [10, 11, 12]
    sent = [b["thread"]["messages"][0]["content"] for b in creates(server)]
    assert sorted(sent) == sorted(TICKETS["text"])  # sent concurrently: in any order
    ip.user_ns["tickets2"] = TICKETS
    with pytest.raises(UsageError, match=r"--over 'tickts': no such variable in the notebook "
                                         r"\(did you mean 'tickets'\?\)"):
        ip.run_cell_magic("threadrun", "--over tickts -m echo:a", "user: {text}")


def test_copy_as_cell_writes_over_and_keeps_the_placeholders(ip):
    from threadrun.faces.cell_text import cell_text
    ip.user_ns["tickets"] = TICKETS
    cmd, _ = ip.magics_manager.registry["ThreadrunMagics"]._command("--over tickets -m echo:a",
                                                                     "user: {text} {{x}}")
    text = cell_text(cmd)
    assert text.splitlines()[0].endswith("--over tickets")
    again, _ = ip.magics_manager.registry["ThreadrunMagics"]._command(text.split("\n", 1)[0][len("%%threadrun "):],
                                                                       text.split("\n", 1)[1])
    assert [j.body for j in again.plan()] == [j.body for j in cmd.plan()]
    with pytest.raises(ValidationError, match="not a notebook variable"):
        cell_text(api.command("user: {text}", over=TICKETS))


def test_the_form_picks_a_dataframe_of_the_notebook_to_run_over(ip):
    from threadrun.faces.form import ThreadrunForm
    ip.user_ns["tickets"] = TICKETS
    ip.user_ns["not_a_frame"] = [1, 2]
    form = ThreadrunForm()
    assert "tickets" in form.over.options and "not_a_frame" not in form.over.options
    form.value = {"models": ["echo:a"], "over": "tickets",
                  "messages": [{"role": "user", "content": "{text}"}]}
    bodies = form.dry_run()
    assert [b["thread"]["messages"][0]["content"] for b in bodies] == list(TICKETS["text"])
    assert "--over tickets" in form.cell_text()


def test_many_inputs_look_the_keys_up_once_and_qualify_each_model_once(monkeypatch):
    from threadrun import providers, scrub
    calls = {"keys": 0, "qualify": 0}
    real_keys, real_qualified = scrub.provider_keys, providers.qualified

    def counted_keys():
        calls["keys"] += 1
        return real_keys()

    def counted_qualified(model):
        calls["qualify"] += 1
        return real_qualified(model)
    monkeypatch.setattr(scrub, "provider_keys", counted_keys)
    monkeypatch.setattr(providers, "qualified", counted_qualified)
    rows = [{"text": f"ticket {i}"} for i in range(200)]
    bodies = threadrun.dry_run("system: Be brief.\nuser: {text}", model="echo:a,echo:b", over=rows)
    assert len(bodies) == 400
    assert 1 <= calls["keys"] <= 2  # once for the fill (not once per value: 10,000 inputs took 5 s)
    assert calls["qualify"] == 2  # each model once, not once per input and model

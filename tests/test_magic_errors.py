"""Bad input gets one line naming the problem, before any request reaches the server."""
from __future__ import annotations

import pytest

GOOD = "user: hello"

# (option line, cell, a fragment the one-line message must contain)
BAD_INPUT = [
    ("' '", GOOD, "unexpected blank argument"),  # found by test_fuzz under load: an IndexError
    ("-m gpt-4o ''", GOOD, "unexpected blank argument"),
    ("--temperature 2.5", GOOD, "temperature"),
    ("--temperature -0.1", GOOD, "temperature"),
    ("--temperature hot", GOOD, "--temperature expects a number"),
    ("--temperature 0,3", GOOD, "temperature"),
    ("--top-p 1.5", GOOD, "top_p"),
    ("--top-p x", GOOD, "--top-p expects a number"),
    ("--max-completion-tokens 10", GOOD, "max_completion_tokens"),
    ("--max-prompt-tokens 255", GOOD, "max_prompt_tokens"),
    ("--max-prompt-tokens many", GOOD, "--max-prompt-tokens"),
    ("--repeat 0", GOOD, "--repeat must be 1 or more"),
    ("--repeat two", GOOD, "--repeat expects a whole number"),
    ("--tools web_browser", GOOD, "web_browser"),
    ("--metadata novalue", GOOD, "--metadata expects key=value"),
    ("--metadata " + "k" * 65 + "=v", GOOD, "metadata"),
    ("--metadata k=" + "v" * 513, GOOD, "metadata"),
    (" ".join(f"--metadata k{i}=v" for i in range(17)), GOOD, "metadata"),
    ("--temprature 0.5", GOOD, "unknown option --temprature (did you mean --temperature?)"),
    ("--bogus", GOOD, "unknown option --bogus; see %threadrun? for the options"),
    ("-m gpt-4o, gpt-4o-mini", GOOD, "the space after 'gpt-4o,' split the list"),
    ("--model ''", GOOD, "--model is empty"),
    ("-m gpt-4o,,gpt-4o-mini", GOOD, "--model has an empty item in 'gpt-4o,,gpt-4o-mini'"),
    ("-t 0,,1", GOOD, "--temperature has an empty item in '0,,1'"),
    ("--instructions 'unbalanced", GOOD, "cannot read the options"),
    ("--out 1abc", GOOD, "--out expects a variable name"),
    ("--timeout 0", GOOD, "--timeout"),
    ("--max-retries -1", GOOD, "--max-retries"),
    ("--concurrency 0", GOOD, "--concurrency"),
    ("", "", "empty"),
    ("", "   \n\n  ", "empty"),
    ("", "user:", "empty"),
    ("", "user: hi\nsytem: be brief", "sytem"),
    ("", "usr: hi", "usr"),
    ("", "tool: result", "tool"),
    ("", "Hello there\nuser: hi", "line 1"),
    ("", "user: capital of {nowhere_defined_xyz}?", "nowhere_defined_xyz"),
    ("", "user: a lone { brace", "line 1"),
    ("", '{"thread": {"messages": [{"role": "user", "content": "hi"}]', "JSON"),
    ("", '{"temprature": 1, "thread": {"messages": [{"role": "user", "content": "hi"}]}}',
     "temprature"),
    ("", '{"thread": {"messages": [{"role": "robot", "content": "hi"}]}}', "robot"),
    ("", '["not", "an", "object"]', "line 1"),
    ("", "system: a\nsystem: b\nuser: hi", "instructions"),
]


@pytest.mark.parametrize("line,cell,fragment", BAD_INPUT)
def test_bad_input_is_one_line_naming_the_problem_and_sends_nothing(ip, server, capsys,
                                                                    line, cell, fragment):
    server.reset_counts()
    result = ip.run_cell(f"%%threadrun {line}\n{cell}")
    captured = capsys.readouterr()
    shown = (captured.out + captured.err).strip()
    assert result.error_in_exec is not None
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert shown.count("\n") == 0, shown
    assert "Traceback" not in shown
    assert shown.startswith("UsageError: ")
    assert fragment.lower() in shown.lower(), shown
    assert sum(server.counts.values()) == 0


def test_line_magic_without_a_cell_explains_itself(ip, capsys):
    result = ip.run_cell("%threadrun --model gpt-4o")
    shown = capsys.readouterr().err.strip()
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "%%threadrun" in shown and "\n" not in shown


def test_python_api_rejects_unknown_option_before_sending(server):
    import threadrun
    from threadrun.errors import ValidationError
    with pytest.raises(ValidationError, match="unknown option 'temprature'"):
        threadrun.run("user: hi", base_url=server.url, temprature=0.5)
    assert sum(server.counts.values()) == 0

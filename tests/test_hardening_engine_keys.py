"""Issue 21 point 4: a provider key an upstream echoes is masked by value in the runtime, on
every path, whatever its variable is named (here ``PROBE_LLM_CRED``, not named like a secret).

The stand-in plays recorded answers that quote the key: a 200 JSON error, a stream error chunk,
``response.failed``, the reply text (split across two deltas), tool arguments. The key holds a
quote and a backslash, so its JSON spelling differs from its raw one.
"""
from __future__ import annotations

import json

import pytest

import threadrun
from standin_upstream import Recorded, StandIn

KEY = 'probe-Cred"9\\x0123456789abcdef'
SPELLINGS = (KEY, json.dumps(KEY)[1:-1], KEY[:12])
CHUNK = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def delta(**fields) -> str:
    return "data: " + json.dumps({**CHUNK, "choices": [{"index": 0, "delta": fields,
                                                        "finish_reason": None}]})


DONE = ["data: " + json.dumps({**CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        "data: [DONE]"]
FAILED = {"id": "resp_1", "object": "response", "status": "failed", "output": [],
          "error": {"code": "server_error", "message": f"upstream saw key {KEY}"}}
CASES = {
    "200 JSON error": ("chat", False, Recorded(body={"error": {"message": f"bad key {KEY}"}})),
    "text error": ("chat", False, Recorded(body=None, events=[f"denied: {json.dumps(KEY)}"],
                                           status=401, content_type="text/plain")),
    "stream error chunk": ("chat", True, Recorded(events=[
        "data: " + json.dumps({"error": {"message": f"stream broke, key {KEY}"}})])),
    "reply split over deltas": ("chat", True, Recorded(events=[
        delta(content=f"the key is {KEY[:9]}"), delta(content=f"{KEY[9:]} ok"), *DONE])),
    "reply polled": ("chat", False, Recorded(body={"choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": f"key: {KEY}"}}]})),
    "tool arguments": ("chat", False, Recorded(body={"choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "f", "arguments": json.dumps({"k": KEY})}}]}}]})),
    "response.failed": ("responses", True, Recorded(events=[
        "event: response.failed\ndata: " + json.dumps({"type": "response.failed", "response": FAILED,
                                                       "sequence_number": 0})])),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_echoed_provider_key_is_masked_whatever_its_variable_is_named(server, isolated,
                                                                         monkeypatch, case):
    """Catches: keys masked only on error paths and only when the variable is named like a
    secret, so ``PROBE_LLM_CRED`` reached the row's error, reply and tool_calls (and repr(df))."""
    api, stream, recorded = CASES[case]
    monkeypatch.setenv("PROBE_LLM_CRED", KEY)
    with StandIn(recorded=recorded) as standin:
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(
            f'[providers.probe]\nbase_url = "{standin.url}"\napi = "{api}"\n'
            'key_env = "PROBE_LLM_CRED"\ncheck_models = false\n')
        tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
        df = threadrun.run("user: hi", model="probe:m", base_url=server.url, log=False, progress=False,
                           stream=stream, tools=tools if case == "tool arguments" else None)
        assert standin.requests  # the call was made
    row = df.iloc[0]
    shown = " ".join(str(row[c]) for c in ("error", "reply", "tool_calls")) + repr(df) + df.to_json(date_format="iso")
    for spelling in SPELLINGS:
        assert spelling not in shown, case
    assert "***" in shown


def test_providers_check_masks_an_echoed_key_and_strips_terminal_escapes(isolated, monkeypatch):
    """Catches: ``threadrun providers --check`` printing a key an upstream lists among its model
    ids, and raw terminal escapes (ESC, CR, bidi controls) from those ids."""
    from threadrun.faces.provider_list import text
    monkeypatch.setenv("PROBE_LLM_CRED", KEY)
    with StandIn() as standin:
        standin.models = [f"m-{KEY}", "evil\x1b[2J\r\u202ehidden", "m3"]
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(
            f'[providers.probe]\nbase_url = "{standin.url}"\napi = "chat"\n'
            'key_env = "PROBE_LLM_CRED"\ncheck_models = false\n')
        shown = text(check=True)
    line = next(line for line in shown.splitlines() if line.startswith("probe"))
    assert "ok: 3 models" in line and "m-***" in line and "evil[2Jhidden" in line
    for spelling in SPELLINGS:
        assert spelling not in shown
    assert not any(ch in shown for ch in "\x1b\r\u202e")

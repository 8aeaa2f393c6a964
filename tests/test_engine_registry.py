"""Issue 20 point 4: the documented recipe for a new API shape works (an engine class and
``register()``, then ``api = "name"`` in a providers table), and an api name no engine speaks is
refused in one line naming the registered ones."""
from __future__ import annotations

import pytest

import threadrun
from threadrun import providers
from threadrun.errors import ValidationError


class ShoutEngine:
    """A new API shape, as small as one gets: it answers the last message in capitals."""

    sent: dict | None = None

    def __init__(self, provider):
        self.provider = provider

    def reply(self, request, emit, watch):
        from threadrun.server.engines import EngineReply
        self.sent = {"model": request.model, "stream": request.stream}
        text = f"{self.provider.name}/{request.model}: {request.messages[-1]['content'].upper()}!"
        emit(text)
        return EngineReply(text, prompt_tokens=7, completion_tokens=3)


@pytest.fixture
def shout(monkeypatch):
    """The ``shout`` API shape registered for this test only."""
    from threadrun.providers import apis
    from threadrun.server import engines
    monkeypatch.setattr(apis, "_ENGINES", dict(apis._ENGINES))
    engines.register("shout", ShoutEngine)
    return "shout"


def write(isolated, text: str) -> None:
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text(text)


@pytest.mark.parametrize("stream", [True, False])
def test_a_registered_api_shape_runs_a_thread_over_http_and_its_reply_is_the_row(
        isolated, shout, server, stream):
    """The class registered as is; streamed and polled."""
    write(isolated, '[providers.loud]\napi = "shout"\nbase_url = "https://loud.example/v1"\n'
                    'check_models = false\n')
    df = threadrun.run("user: say hello", model="loud:megaphone-1", base_url=server.url,
                       stream=stream, log=False, progress=False)
    row = df.iloc[0]
    assert row["status"] == "completed", row["error"]
    assert row["reply"] == "loud/megaphone-1: SAY HELLO!"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (7, 3)
    assert (row["provider"], row["model"]) == ("loud", "megaphone-1")


def test_an_engine_registered_as_module_and_class_is_imported_when_a_run_needs_it(
        isolated, server, monkeypatch):
    from threadrun.providers import apis
    from threadrun.server import engines
    monkeypatch.setattr(apis, "_ENGINES", dict(apis._ENGINES))
    engines.register("shout", f"{__name__}:ShoutEngine")
    engines.register("gone", "threadrun_no_such_module:Engine")
    write(isolated, '[providers.loud]\napi = "shout"\nbase_url = "https://loud.example/v1"\n'
                    'check_models = false\n\n'
                    '[providers.lost]\napi = "gone"\nbase_url = "https://lost.example/v1"\n')
    df = threadrun.run("user: hi", model="loud:m,lost:m", base_url=server.url, log=False,
                       progress=False).set_index("provider")
    assert df.loc["loud", "reply"] == "loud/m: HI!"
    assert df.loc["lost", "status"] == "failed"
    assert df.loc["lost", "error"].endswith("lost: its 'gone' engine could not be made "
                                            "(ModuleNotFoundError: No module named "
                                            "'threadrun_no_such_module')"), df.loc["lost", "error"]


def test_echo_is_a_registered_engine_like_the_others_so_registering_over_it_replaces_it(
        server, monkeypatch):
    """The store does not branch on ``api == "echo"``: echo's reply is whatever engine is registered."""
    from threadrun.providers import apis
    from threadrun.server import engines
    monkeypatch.setattr(apis, "_ENGINES", dict(apis._ENGINES))
    engines.register("echo", ShoutEngine)
    row = threadrun.run("user: hi", model="echo:gpt-4o", base_url=server.url, log=False,
                        progress=False).iloc[0]
    assert (row["status"], row["reply"]) == ("completed", "echo/gpt-4o: HI!"), row["error"]


def test_an_api_no_engine_speaks_is_one_line_naming_the_registered_ones(isolated):
    write(isolated, '[providers.work]\nbase_url = "https://llm.example/v1"\napi = "chatt"\n')
    with pytest.raises(ValidationError) as caught:
        providers.providers()
    message = str(caught.value)
    assert "\n" not in message
    assert message.endswith("line 3: [providers.work].api: 'chatt' is not one of echo, chat, "
                            "responses (did you mean 'chat'?)")
    write(isolated, '[providers.work]\nbase_url = "https://llm.example/v1"\napi = "grpc"\n')
    with pytest.raises(ValidationError, match=r"\.api: 'grpc' is not one of echo, chat, responses$"):
        providers.providers()  # nothing close: the list, no guess


def test_a_registered_api_is_among_the_names_an_unknown_one_is_offered(isolated, shout):
    write(isolated, '[providers.loud]\napi = "shuot"\nbase_url = "https://loud.example/v1"\n')
    with pytest.raises(ValidationError, match=r"\.api: 'shuot' is not one of echo, chat, responses, "
                                              r"shout \(did you mean 'shout'\?\)$"):
        providers.providers()


def test_checking_a_providers_file_imports_neither_requests_nor_the_server():
    import subprocess
    import sys
    code = ("import sys; from threadrun import providers; providers.providers(); "
            "print(sorted(m for m in sys.modules if m == 'requests' or m.startswith('threadrun.server')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_offline_api_shape_needs_neither_a_base_url_nor_a_key(isolated, server, monkeypatch):
    """Registered ``offline`` (as echo is), its providers run with no base_url and no key set;
    registered as calling out, the runtime refuses the same table before any run is created."""
    from threadrun.providers import apis
    from threadrun.server import engines
    monkeypatch.setattr(apis, "_ENGINES", dict(apis._ENGINES))
    monkeypatch.setattr(apis, "_OFFLINE", set(apis._OFFLINE))
    write(isolated, '[providers.quiet]\napi = "shout"\nkey_env = "QUIET_KEY_NOT_SET"\n'
                    'check_models = false\n')
    engines.register("shout", ShoutEngine)
    created = server.runs_created
    refused = threadrun.run("user: hi", model="quiet:m", base_url=server.url, log=False,
                            progress=False).iloc[0]
    assert refused["status"] == "error" and "provider 'quiet'" in refused["error"]
    assert server.runs_created == created
    engines.register("shout", ShoutEngine, offline=True)
    df = threadrun.run("user: hi", model="quiet:m", base_url=server.url, log=False, progress=False)
    assert df.loc[0, "reply"] == "quiet/m: HI!"

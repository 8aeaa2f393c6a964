"""Providers as data: presets, providers.toml, provider:model specs, keys, the default provider."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from IPython.core.error import UsageError

import threadrun
from threadrun import providers
from threadrun.errors import ValidationError

PRESETS = {  # name: (api, base URL, key variable), as UPSTREAMS.md §5 gives them
    "openai": ("responses", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    "ollama": ("chat", "http://localhost:11434/v1", "OLLAMA_API_KEY"),
    "vllm": ("chat", "http://localhost:8000/v1", "VLLM_API_KEY"),
    "llamacpp": ("chat", "http://localhost:8080/v1", "LLAMACPP_API_KEY"),
    "lmstudio": ("chat", "http://localhost:1234/v1", "LMSTUDIO_API_KEY"),
    "openrouter": ("chat", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "groq": ("chat", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "together": ("chat", "https://api.together.ai/v1", "TOGETHER_API_KEY"),
    "mistral": ("chat", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "deepseek": ("chat", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "anthropic": ("chat", "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY"),
    "gemini": ("chat", "https://generativelanguage.googleapis.com/v1beta/openai", "GEMINI_API_KEY"),
}


def write(isolated, text: str):
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    path = home / "providers.toml"
    path.write_text(text)
    return path


def test_the_built_in_presets_have_the_vendors_base_urls_apis_and_key_variables():
    known = providers.providers()
    assert set(PRESETS) | {"echo", "azure"} == set(known)
    for name, (api, url, key_env) in PRESETS.items():
        assert (known[name].api, known[name].endpoint(), known[name].key_env) == (api, url, key_env), name
    assert known["llamacpp"].token_cap == "max_tokens" and known["openai"].token_cap == "max_output_tokens"
    assert known["ollama"].local and not known["ollama"].key_required and not known["openai"].local


def test_openai_base_url_means_the_openai_providers_endpoint(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9999/v1/")
    assert providers.providers()["openai"].endpoint() == "http://127.0.0.1:9999/v1"


def test_azure_needs_its_base_url_variable(monkeypatch):
    with pytest.raises(ValidationError, match=r"provider 'azure' has no base URL: set \$AZURE_OPENAI_BASE_URL"):
        providers.providers()["azure"].endpoint()


def test_a_users_providers_toml_adds_and_overrides_providers(isolated):
    write(isolated, '[providers.work]\nbase_url = "https://llm.example.internal/v1"\napi = "chat"\n'
                    'key_env = "WORK_LLM_KEY"\nprices = { "my-model" = [0.10, 0.40] }\n\n'
                    '[providers.ollama]\nbase_url = "http://gpu-box:11434/v1"\n')
    work, model = providers.resolve("work:my-model")
    assert (work.name, model, work.endpoint(), work.key_env) == ("work", "my-model",
                                                                 "https://llm.example.internal/v1", "WORK_LLM_KEY")
    assert work.prices == {"my-model": (0.10, 0.40)}
    ollama = providers.providers()["ollama"]
    assert ollama.endpoint() == "http://gpu-box:11434/v1" and ollama.token_cap == "max_tokens"
    from threadrun.providers.catalog import cost_usd
    assert cost_usd("my-model", 1_000_000, 1_000_000, provider="work") == pytest.approx(0.5)
    assert cost_usd("llama3.2", 1000, 1000, provider="ollama") == 0.0  # local: your own hardware
    assert cost_usd("claude-sonnet-4-5", 1_000_000, 0, provider="anthropic") == pytest.approx(3.0)
    assert cost_usd("someone-elses-model", 10, 10, provider="openrouter") != cost_usd(
        "someone-elses-model", 10, 10, provider="openrouter")  # NaN: unknown, never guessed


@pytest.mark.parametrize("text, message", [
    ('[providers.work\nbase_url = "x"', r"providers\.toml: not valid TOML: .*line 1"),
    ('[providers.work]\napi = "chat"\nbase_ulr = "https://x/v1"\n',
     r"providers\.toml, line 3: \[providers\.work\]\.base_ulr: unknown field \(did you mean 'base_url'\?\)"),
    ('[providers.work]\n\napi = "chatt"\n', r"line 3: \[providers\.work\]\.api: 'chatt' is not one of echo, chat, responses"),
    ('[providers.work]\nkey_required = "no"\n', r"line 2: \[providers\.work\]\.key_required: expected bool"),
    ('[providers.work]\nbase_url = "ftp://x"\n', r"line 2: \[providers\.work\]\.base_url: 'ftp://x' is not an http"),
    ('[providers.work]\nbase_url = "https://user:pw@x/v1"\n', r"line 2: .*without user, query"),
    ('[providers.work]\nprices = { "m" = [1] }\n', r"line 2: \[providers\.work\]\.prices: price of 'm' must be"),
    ('[models.work]\napi = "chat"\n', r"line 1: unknown table 'models'"),
    ('[providers.Work]\napi = "chat"\n', r"line 1: \[providers\.Work\]: a provider name is lowercase"),
])
def test_a_bad_providers_file_is_one_line_naming_the_file_the_line_and_the_field(isolated, text, message):
    path = write(isolated, text)
    with pytest.raises(ValidationError, match=message) as caught:
        providers.providers()
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_an_unknown_provider_lists_the_known_ones_and_suggests_the_closest():
    with pytest.raises(ValidationError) as caught:
        providers.resolve("opneai:gpt-5-mini")
    text = str(caught.value)
    assert text.startswith("unknown provider 'opneai' in model 'opneai:gpt-5-mini' (did you mean 'openai'?); known: echo, openai")
    assert "providers.toml" in text


def test_specs_split_at_the_first_colon_and_fine_tuned_ids_are_not_providers():
    assert providers.split_spec("ollama:llama3.2:1b") == ("ollama", "llama3.2:1b")
    assert providers.split_spec("gpt-4o") == (None, "gpt-4o")
    assert providers.split_spec("ft:gpt-4o-mini:org::abc") == (None, "ft:gpt-4o-mini:org::abc")
    with pytest.raises(ValidationError, match="names a provider but no model"):
        providers.resolve("openai:")


def test_the_default_provider_is_openai_with_a_key_else_echo(monkeypatch):
    assert providers.qualified("gpt-4o") == "echo:gpt-4o"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    assert providers.qualified("gpt-4o") == "openai:gpt-4o"


def test_a_provider_whose_key_is_unset_fails_before_anything_is_sent(ip, monkeypatch, server):
    monkeypatch.delenv("THREADRUN_BASE_URL")  # the embedded runtime
    from threadrun.server import embedded as runtime
    before = server.runs_created
    earlier = list(runtime.running().requests) if runtime.running() else []  # other tests' requests
    with pytest.raises(UsageError, match=r"^provider 'anthropic' needs a key: set \$ANTHROPIC_API_KEY$"):
        ip.run_cell_magic("threadrun", "-m echo:gpt-4o,anthropic:claude-sonnet-4-5", "user: hi")
    assert server.runs_created == before
    assert runtime.running() is None or not any(
        r.route == "POST /threads/runs" and "anthropic" in str(r.body)
        for r in runtime.running().requests if not any(r is e for e in earlier))


def test_an_unknown_provider_in_the_magic_is_a_usage_error_before_sending(ip, server):
    with pytest.raises(UsageError, match="unknown provider 'olama'.*did you mean 'ollama'"):
        ip.run_cell_magic("threadrun", "-m olama:llama3.2", "user: hi")
    assert server.counts.get("POST /threads/runs", 0) == 0


def test_the_row_splits_provider_and_model_and_the_log_and_resume_key_on_both(isolated, capsys, monkeypatch):
    from threadrun.grid import notices
    monkeypatch.setattr(notices, "_told_default", False)
    df = threadrun.run("user: hi", model="echo:gpt-4o-mini,gpt-4o", label="p", progress=False)
    assert list(df["model"]) == ["gpt-4o-mini", "gpt-4o"] and list(df["provider"]) == ["echo", "echo"]
    assert "models without a provider prefix run on echo" in capsys.readouterr().out  # info, not red
    logged = threadrun.log(model="echo:gpt-4o")
    assert list(logged["model"]) == ["gpt-4o"] and list(logged["provider"]) == ["echo"]
    assert threadrun.log(model="openai:gpt-4o").empty
    again = threadrun.run("user: hi", model="echo:gpt-4o-mini,echo:gpt-4o,echo:gpt-4.1", resume="p",
                          progress=False)
    assert list(again["model"]) == ["gpt-4.1"]


def test_the_default_provider_line_is_printed_once_per_session(capsys, monkeypatch):
    from threadrun.grid import notices
    monkeypatch.setattr(notices, "_told_default", False)
    threadrun.run("user: hi", model="gpt-4o", log=False, progress=False)
    threadrun.run("user: hi", model="gpt-4o", log=False, progress=False)
    said = capsys.readouterr()
    assert said.out.count("models without a provider prefix run on echo") == 1
    assert "models without a provider prefix" not in said.err  # information, not on stderr's red


def test_a_temperature_sent_to_a_reasoning_model_warns_in_one_line_before_sending(capsys):
    from threadrun.grid.notices import temperature_warnings
    from threadrun.grid.plan import make_plan
    from threadrun.grid.thread import parse
    jobs = make_plan(parse("user: hi"), models=["openai:gpt-5-mini", "openai:gpt-4o", "echo:o3"],
                     temperatures=[0.7])
    assert temperature_warnings(jobs) == [
        "openai:gpt-5-mini is a reasoning model and may refuse temperature 0.7 "
        "(sweep --reasoning-effort instead); the row will carry its answer"]


def test_providers_cli_lists_variables_and_whether_set_never_the_key(isolated):
    env = {**os.environ, "THREADRUN_HOME": str(isolated / "threadrun-home"),
           "ANTHROPIC_API_KEY": "sk-ant-SECRET-123456"}
    out = subprocess.run([sys.executable, "-m", "threadrun", "providers"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if l.startswith("anthropic"))
    # anthropic has no base-URL variable (that column is blank), a key set, and is not local
    assert line.split() == ["anthropic", "chat", "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY",
                            "yes", "no"]
    llamacpp = next(l for l in out.stdout.splitlines() if l.startswith("llamacpp"))
    assert "LLAMACPP_BASE_URL" in llamacpp.split()
    assert "SECRET" not in out.stdout + out.stderr


def test_providers_cli_names_a_bad_file_in_one_line(isolated):
    write(isolated, "[providers.x]\nnope = 1\n")
    env = {**os.environ, "THREADRUN_HOME": str(isolated / "threadrun-home")}
    out = subprocess.run([sys.executable, "-m", "threadrun", "providers"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "line 2: [providers.x].nope" in out.stderr


def test_providers_line_magic_returns_a_frame_and_check_asks_each_provider(ip, isolated):
    from standin_upstream import StandIn
    with StandIn() as standin:
        write(isolated, f'[providers.standin]\nbase_url = "{standin.url}"\nkey_required = false\n')
        df = ip.run_line_magic("threadrun", "providers --check")
        row = df.set_index("provider").loc["standin"]
        assert row["check"] == "ok: 1 models (stand-in-model)"
        assert df.set_index("provider").loc["ollama", "check"].startswith("ollama: connection refused")


def test_compare_keeps_two_providers_models_of_the_same_name_apart(isolated):
    write(isolated, '[providers.mirror]\napi = "echo"\n')
    df = threadrun.run("user: hi", model="echo:gpt-4o,mirror:gpt-4o", repeat=2, log=False, progress=False)
    table = threadrun.compare(df, values="total_tokens", stats=("count",))
    assert list(table.index) == [("echo", "gpt-4o", 1.0), ("mirror", "gpt-4o", 1.0)]
    assert list(table[("total_tokens", "count")]) == [2, 2]


def test_a_table_of_your_own_on_this_machine_needs_no_key_and_costs_nothing(ip, isolated, monkeypatch):
    """The README's recipe as a new user writes it: no key_env, no key_required, no local."""
    from standin_upstream import StandIn
    monkeypatch.delenv("THREADRUN_BASE_URL")  # the embedded runtime
    with StandIn() as upstream:
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(
            f'[providers.mine]\nbase_url = "{upstream.url}"\napi = "chat"\n')
        df = ip.run_cell_magic("threadrun", "-m mine:tiny --no-log", "user: hi")
    assert df["status"].tolist() == ["completed"], df["error"].tolist()
    assert df["cost_usd"].tolist() == [0.0]
    assert "authorization" not in upstream.requests[0]["headers"]
    mine = providers.providers()["mine"]
    assert (mine.local, mine.key_required, mine.token_cap) == (True, False, "max_tokens")


def test_a_remote_table_with_a_key_variable_needs_it_and_says_which(isolated):
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text(
        '[providers.work]\nbase_url = "https://llm.example.com/v1"\nkey_env = "WORK_LLM_KEY"\n'
        '[providers.open]\nbase_url = "https://open.example.com/v1"\n')
    with pytest.raises(ValidationError, match=r"^provider 'work' needs a key: set \$WORK_LLM_KEY$"):
        providers.providers()["work"].check_ready()
    providers.providers()["open"].check_ready()  # no key variable: nothing to require
    assert providers.providers()["work"].local is False


def test_threadrun_providers_names_each_base_url_variable():
    from threadrun.faces.provider_list import rows
    table = {r["provider"]: r for r in rows()}
    assert table["llamacpp"]["base_url_env"] == "LLAMACPP_BASE_URL"
    assert table["ollama"]["local"] is True and table["openai"]["local"] is False


@pytest.mark.parametrize("spec, message", [
    ("\u200bollama:llama3.2", r"invisible or control character \(U\+200B\) at position 1"),
    ("ollama:llama3.2\u202e", r"invisible or control character \(U\+202E\)"),
    ("ollama:llama\n3.2", r"invisible or control character \(U\+000A\)"),
    ("ollama:llama\x003.2", r"invisible or control character \(U\+0000\)"),
    ("\uff4flama:x", r"the provider prefix 'ｏlama' has characters that only look like letters \(did you mean 'ollama'\?\)"),
    (":m1", r"empty provider prefix"),
])
def test_a_spec_with_invisible_look_alike_or_empty_prefix_is_refused_before_sending(
        spec, message, monkeypatch):
    """Issue 21 point 6: these fell back to the default provider (OpenAI with a key set)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-be-used-000000")
    with pytest.raises(ValidationError, match=message) as info:
        threadrun.run("user: hi", model=[spec], log=False, progress=False)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", ["http://user:pw@127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1?api-version=1",
                                   "http://127.0.0.1:8080/v1\n", "http://127.0.0.1:99999/v1"])
def test_a_base_url_variable_is_checked_like_base_url_and_never_quoted(value, monkeypatch):
    """Issue 21 point 7: these were accepted, and a password reached a connection error."""
    monkeypatch.setenv("LLAMACPP_BASE_URL", value)
    with pytest.raises(ValidationError) as info:
        threadrun.run("user: hi", model="llamacpp:tiny", log=False, progress=False)
    assert str(info.value).startswith("$LLAMACPP_BASE_URL (provider 'llamacpp') is not an http(s) URL")
    assert "pw" not in str(info.value) and "99999" not in str(info.value)


@pytest.mark.parametrize("table, field", [
    ('base_url = "http://127.0.0.1:99999/v1"', "base_url"), ('key_env = ""', "key_env"),
    ('key_env = "MY KEY"', "key_env"), ('base_url_env = "1X"', "base_url_env")])
def test_a_bad_port_or_variable_name_in_providers_toml_is_one_line(table, field, isolated):
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    url = "" if field == "base_url" else 'base_url = "http://127.0.0.1:8080/v1"\n'
    (home / "providers.toml").write_text(f'[providers.mine]\n{url}{table}\n')
    with pytest.raises(ValidationError, match=rf"\[providers.mine\].*{field}") as info:
        providers.providers()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("providers = 5\n", "'providers' is int; write one [providers.NAME] table per provider"),
    ('[[providers]]\nname = "x"\n', "'providers' is list; write one"),
    ("".join(f"[providers.p{i}]\nbase_url = \"http://127.0.0.1:1/v1\"\n" for i in range(1001)),
     "1,001 provider tables; at most 1,000"),
    ("# " + "x" * (1 << 20) + "\n", "a providers file holds at most 1,048,576"),
])
def test_a_providers_file_of_the_wrong_shape_or_size_is_one_line(text, message, isolated):
    """Issue 21, low: these raised AttributeError / RecursionError or were read whole."""
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text(text)
    with pytest.raises(ValidationError) as info:
        providers.providers()
    assert message in str(info.value) and "\n" not in str(info.value)

"""Shared fixtures: an isolated threadrun home, the local server, a real IPython shell."""
from __future__ import annotations

import pytest

FAKE_KEY = "sk-threadrun-FAKE-KEY-0123456789abcdef"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test gets its own THREADRUN_HOME and no OpenAI settings from the environment."""
    monkeypatch.setenv("THREADRUN_HOME", str(tmp_path / "threadrun-home"))
    for name in ("THREADRUN_BASE_URL", "THREADRUN_API_KEY", "THREADRUN_ASSISTANT_ID", "THREADRUN_PRICES",
                 "OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
                 "OPENROUTER_API_KEY", "GROQ_API_KEY", "TOGETHER_API_KEY", "MISTRAL_API_KEY",
                 "DEEPSEEK_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_BASE_URL",
                 "OLLAMA_BASE_URL", "LLAMACPP_BASE_URL", "VLLM_BASE_URL", "LMSTUDIO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def server():
    """The local Assistants server on an ephemeral loopback port, fast runs."""
    from threadrun.server import local_server
    with local_server(latency=0.05) as srv:
        yield srv


@pytest.fixture
def keyed_server():
    """A local server that demands FAKE_KEY."""
    from threadrun.server import local_server
    with local_server(latency=0.05, api_key=FAKE_KEY) as srv:
        yield srv


@pytest.fixture(scope="session")
def _shell():
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "threadrun")
    return shell


@pytest.fixture
def ip(_shell, server, monkeypatch):
    """A real InteractiveShell with threadrun loaded, pointed at the local server."""
    monkeypatch.setenv("THREADRUN_BASE_URL", server.url)
    _shell.run_line_magic("config", "ThreadrunMagics.progress = False")
    _shell.user_ns.pop("df", None)
    yield _shell

"""Every code block in the README and docs/ runs as written.

Blocks are tagged: ``ipython`` and ``python`` run, in order, in one real InteractiveShell (as a
reader pastes them into a notebook); ``toml`` is a providers.toml that must load; ``bash`` lines
must parse, and those that call ``threadrun`` run; ``text`` is a picture. The real providers the
README names (openai, anthropic, ollama) point at a stand-in upstream on 127.0.0.1 with fake keys,
so the blocks run offline exactly as typed. The README's first block (the two set-up commands) is
what CI itself runs (tests/test_readme.py).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

from standin_upstream import StandIn

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
TAGS = {"ipython", "python", "toml", "bash", "text"}
#: Tools a bash block may name that are not threadrun's (checked for syntax only).
OTHER_TOOLS = {"ollama", "export", "python3"}


def blocks(path: Path) -> list[tuple[str, str, int]]:
    text = path.read_text()
    return [(m.group(1), m.group(2), text[:m.start()].count("\n") + 1) for m in BLOCK.finditer(text)]


def every(*tags: str) -> list[tuple[str, str, int]]:
    """``(file name, body, line)`` of every block with one of ``tags``, README first."""
    return [(path.name, body, line) for path in DOCS for tag, body, line in blocks(path)
            if tag in tags]


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_every_block_says_what_it_is(path):
    untagged = [line for tag, _, line in blocks(path) if tag not in TAGS]
    assert untagged == [], f"{path.name}: blocks without a known tag at lines {untagged}"


@pytest.fixture
def offline_providers(isolated, monkeypatch):
    """openai, anthropic and ollama on a stand-in upstream, with fake keys."""
    with StandIn() as upstream:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-docs-test-000000000000")
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-docs-test-0000000000")
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text("".join(
            f'[providers.{name}]\nbase_url = "{upstream.url}"\n\n'
            for name in ("openai", "anthropic", "ollama")))
        yield upstream


def test_the_python_blocks_run_as_written_in_a_notebook_shell(offline_providers, monkeypatch, _shell):
    code = every("ipython", "python")
    assert len(code) >= 5
    _shell.run_line_magic("config", "ThreadrunMagics.progress = False")
    for name, body, line in code:
        result = _shell.run_cell(body)
        assert result.success, f"{name} line {line}: {result.error_in_exec or result.error_before_exec}"
        value = result.result
        if hasattr(value, "columns") and "status" in value.columns:
            assert set(value["status"]) == {"completed"}, (name, line, value["error"].tolist())
    assert offline_providers.requests, "no block reached a provider"


def test_the_echo_models_the_blocks_name_have_a_price():
    """A reader copies these: an unpriced echo model warns 'cost will be NaN' on every run and
    leaves compare's cost_usd all NaN (echo:a, echo:b in docs/comparing.md did)."""
    from threadrun.providers import catalog
    named = {(name, line, model) for name, body, line in every("ipython", "python", "bash")
             for model in re.findall(r"\becho:([\w.-]+)", body)}
    assert named
    unpriced = [(name, line, model) for name, line, model in sorted(named)
                if catalog.provider_price(model, "echo") is None]
    assert unpriced == []


def test_the_toml_blocks_are_providers_files_that_load(isolated):
    from threadrun import providers
    tables = every("toml")
    assert tables
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    for name, body, line in tables:
        (home / "providers.toml").write_text(body)
        loaded = providers.providers()
        names = re.findall(r"^\[providers\.([\w-]+)\]", body, re.M)
        assert names and all(n in loaded for n in names), (name, line)


def test_the_bash_blocks_parse_and_their_threadrun_commands_run(isolated):
    commands = every("bash")[1:]  # the README's first block is CI's own command (test_readme)
    assert commands
    for name, body, line in commands:
        assert subprocess.run(["bash", "-n"], input=body, text=True).returncode == 0, (name, line)
        for command in body.splitlines():
            words = command.split("#")[0].split()
            if not words:
                continue
            if words[0] == "threadrun":
                done = subprocess.run([sys.executable, "-m", "threadrun", *words[1:]],
                                      capture_output=True, text=True, timeout=120)
                assert done.returncode == 0, (name, line, done.stderr)
            else:
                assert words[0] in OTHER_TOOLS or shutil.which(words[0]), (name, line, words[0])

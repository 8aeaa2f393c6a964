"""One home for each fact: names, defaults and spec facts live in one module each."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import threadrun
from helpers import TERMINAL

SRC = Path(threadrun.__file__).parent


def test_dir_of_threadrun_shows_the_lazy_public_api():
    assert {"run", "log", "compare", "plot", "form", "local_server", "RunLogError"} <= set(dir(threadrun))


def test_the_codes_terminal_statuses_are_the_specs():
    from threadrun import spec
    from threadrun.client import runs as client
    from threadrun.server import objects
    assert spec.TERMINAL == TERMINAL and client.TERMINAL is spec.TERMINAL is objects.TERMINAL


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                offenders += [f"{path.relative_to(SRC)}: {a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert offenders == []


@pytest.mark.parametrize("literal", ["120.0", "THREADRUN_LOG", "THREADRUN_PRICES", "THREADRUN_BASE_URL",
                                     "THREADRUN_SERVER_API_KEY", "THREADRUN_API_KEY"])
def test_each_default_and_variable_is_written_once_in_config(literal):
    homes = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
             if f'"{literal}"' in p.read_text() or f" {literal}\n" in p.read_text()
             or f"= {literal}" in p.read_text()]
    assert homes == ["config.py"], homes


def test_a_bad_config_value_fails_when_it_is_set(_shell):
    from traitlets import TraitError
    magics = _shell.magics_manager.registry["ThreadrunMagics"]
    for name, value in (("timeout", 0.0), ("max_retries", -1), ("concurrency", 0)):
        with pytest.raises(TraitError, match=f"ThreadrunMagics.{name} must be"):
            setattr(magics, name, value)


def test_copy_as_cell_writes_the_reasoning_effort_back():
    from threadrun.api import command
    from threadrun.faces.cell_text import cell_text
    cmd = command("user: hi", model="openai:gpt-5-mini", reasoning_effort="low,high")
    assert cell_text(cmd).splitlines()[0] == "%%threadrun --model openai:gpt-5-mini --reasoning-effort low,high"

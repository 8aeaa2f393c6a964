"""The README's two set-up commands stay what CI runs."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split(" #")[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands_demo_then_tests():
    demo, tests = readme_commands()
    assert demo.endswith("threadrun demo")
    assert tests.endswith("python -m pytest") and '".[test]"' in tests


def test_ci_runs_the_readme_test_command_itself():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci


def test_the_readme_lists_every_magic_option_of_the_table():
    from threadrun.grid import options
    text = (ROOT / "README.md").read_text()
    table = text.split("## `%%threadrun` options", 1)[1].split("\n## ", 1)[0]
    flags = [o.dashed for o in options.OPTIONS if o.flag] + [o.off for o in options.OPTIONS if o.off]
    missing = [f for f in flags if f"`{f}" not in table]
    assert missing == []

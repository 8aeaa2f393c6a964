"""`python -m benchmarks --quick` runs end to end and prints the table (targets are not enforced)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmarks_exit_0_and_print_the_table():
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "| # | measurement | median | n | ratio | target | result |" in out
    for section in "123456":
        assert f"\n| {section} | " in out, f"section {section} missing from the table"
    assert "Quick mode: targets are reported but not enforced" in out
    assert "- CPU: " in out and "- Python: " in out

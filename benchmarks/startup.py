"""4. ``%load_ext threadrun`` in a fresh IPython process vs ``import pandas`` in a fresh process."""
from __future__ import annotations

import subprocess
import sys
import tempfile

from .common import ROOT, Result, child_env, median

TARGET = 1.2
LOAD_EXT = ("import time\n"
            "from IPython.core.interactiveshell import InteractiveShell\n"
            "shell = InteractiveShell.instance()\n"
            "t = time.perf_counter()\n"
            "shell.run_line_magic('load_ext', 'threadrun')\n"
            "print(time.perf_counter() - t)\n")
PANDAS = ("import time\n"
          "t = time.perf_counter()\n"
          "import pandas\n"
          "print(time.perf_counter() - t)\n")


def _time(code: str, env: dict) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=120, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def measure(rounds: int) -> list[Result]:
    with tempfile.TemporaryDirectory() as ipython_dir:
        env = child_env(IPYTHONDIR=ipython_dir)
        _time(PANDAS, env)  # warm the OS file cache for both
        _time(LOAD_EXT, env)
        load, pandas = [], []
        for _ in range(rounds):
            load.append(_time(LOAD_EXT, env))
            pandas.append(_time(PANDAS, env))
    m_load, m_pandas = median(load), median(pandas)
    return [
        Result("4", "`%load_ext threadrun`, fresh IPython process", m_load * 1000, "ms", len(load),
               f"{m_load / m_pandas:.2f}× import pandas", f"≤ {TARGET}× import pandas",
               m_load <= TARGET * m_pandas),
        Result("4", "`import pandas`, fresh process (reference)", m_pandas * 1000, "ms", len(pandas),
               "", "reported", None),
    ]

"""The public surface is small and deliberate: what ``threadrun.__all__`` lists, each documented."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import threadrun
from threadrun.errors import ValidationError

README = (Path(__file__).parents[1] / "README.md").read_text()


@pytest.mark.parametrize("name", [n for n in threadrun.__all__ if not n.startswith("__")])
def test_every_public_name_resolves_and_the_readme_names_it(name):
    assert getattr(threadrun, name) is not None
    spelled = "%load_ext threadrun" if name == "load_ipython_extension" else name  # IPython's hook
    assert spelled in README or name.endswith("Error"), f"README does not document threadrun.{name}"


def test_run_always_returns_a_dataframe_and_dry_run_returns_the_bodies(server):
    df = threadrun.run("user: hi", model="echo:m", temperature="0,1", base_url=server.url,
                       progress=False, log=False)
    assert isinstance(df, pd.DataFrame) and len(df) == 2
    before = server.runs_created
    bodies = threadrun.dry_run("user: hi", model="echo:m", temperature="0,1", base_url=server.url)
    assert [b["temperature"] for b in bodies] == [0.0, 1.0]
    assert all(b["thread"]["messages"][0]["content"] == "hi" for b in bodies)
    assert server.runs_created == before == 2  # the dry run sent nothing


def test_run_with_dry_run_true_names_dry_run_instead():
    with pytest.raises(ValidationError, match=r"threadrun\.dry_run\(\)"):
        threadrun.run("user: hi", model="echo:m", dry_run=True)

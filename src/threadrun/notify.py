"""The one channel of user-facing notices: one line each, prefixed ``threadrun:``. Information goes
to stdout (a notebook shows it plainly), warnings to stderr (shown on a red background); never a
Python warning with a file path, never a traceback."""
from __future__ import annotations

import sys

PREFIX = "threadrun: "


def info(line: str) -> None:
    """A line the user should read, not worry about."""
    print(PREFIX + " ".join(line.split()), file=sys.stdout, flush=True)


def warn(line: str) -> None:
    """A line the user should act on."""
    print(PREFIX + " ".join(line.split()), file=sys.stderr, flush=True)

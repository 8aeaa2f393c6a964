"""A sweep's progress: a line updated in place in a notebook, tqdm in a terminal.

In a Jupyter kernel the bar is one display output updated through its display id (HTML with
inline styles, and a text line), not a widget: the notebook file then keeps the bar's *final*
state (a saved tqdm widget shows its first, ``0/8 0%``, when reopened), and it reads without
trust. For a small grid it also shows the latest text of each running run as it streams in
(bounded), so streaming is visible; the table of rows replaces nothing: it is shown after.
Elsewhere it is a tqdm text bar on stderr. Both take tqdm's calls: ``update``,
``set_postfix``, ``refresh``, ``close``.
"""
from __future__ import annotations

import html
import sys
import threading
import time
from typing import Any

#: Redraws at most this often (a 10,000-run sweep must not send 10,000 display updates).
MIN_INTERVAL_S = 0.2
#: Runs whose streaming text is shown live, and characters shown of each.
LIVE_RUNS, LIVE_CHARS = 4, 240


def progress_bar(total: int, live: bool = False) -> Any:
    """The bar for ``total`` runs: in place in a notebook, tqdm elsewhere."""
    if in_notebook():
        return NotebookProgress(total, live=live)
    from tqdm import tqdm
    return tqdm(total=total, desc="threadrun", unit="run", file=sys.stderr, leave=True)


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (whose frontend shows rich display updates)."""
    shell = sys.modules.get("IPython") and _shell()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _shell() -> Any:
    from IPython import get_ipython
    return get_ipython()


class NotebookProgress:
    """One output updated in place: a bar, counts by outcome, elapsed time, live texts."""

    def __init__(self, total: int, live: bool = False) -> None:
        from IPython.display import display
        self.total, self.n = total, 0
        self.postfix: dict[str, Any] = {}
        self.live = live and total <= LIVE_RUNS
        self.texts: dict[int, str] = {}
        self.started = time.monotonic()
        self._shown = 0.0
        self._lock = threading.Lock()
        self.handle = display(self._bundle(), raw=True, display_id=True)

    def update(self, n: int = 1) -> None:
        with self._lock:
            self.n += n
        self._draw(final=self.n >= self.total)

    def set_postfix(self, ordered: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        with self._lock:
            self.postfix = {**(ordered or {}), **kwargs}
        if refresh:
            self._draw()

    def text(self, index: int, text: str) -> None:
        """The latest streamed text of run ``index`` (shown live for small grids)."""
        if not self.live:
            return
        with self._lock:
            self.texts[index] = text
        self._draw()

    def done(self, index: int) -> None:
        """Run ``index`` ended: its live text gives way (the table shows its reply)."""
        with self._lock:
            self.texts.pop(index, None)

    def refresh(self) -> None:
        self._draw(final=True)

    def close(self) -> None:
        with self._lock:
            self.texts.clear()
        self._draw(final=True)

    def _draw(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._shown < MIN_INTERVAL_S:
            return
        self._shown = now
        if self.handle is not None:
            self.handle.update(self._bundle(), raw=True)

    def _summary(self) -> str:
        elapsed = time.monotonic() - self.started
        counts = ", ".join(f"{k}={v}" for k, v in self.postfix.items() if v)
        return (f"threadrun: {self.n}/{self.total} runs in {elapsed:.1f} s"
                + (f" ({counts})" if counts else ""))

    def _bundle(self) -> dict[str, str]:
        with self._lock:
            summary, done = self._summary(), self.n / max(self.total, 1)
            texts = [(i, t[-LIVE_CHARS:]) for i, t in sorted(self.texts.items())]
        bar = ('<div style="display:inline-block;width:240px;height:10px;background:#e0e0e0;'
               'vertical-align:middle;margin-right:8px"><div style="height:10px;'
               f'width:{done * 100:.1f}%;background:#4caf50"></div></div>')
        live = "".join(f'<div style="color:#555;white-space:pre-wrap;font-family:monospace">'
                       f'run {i + 1}: {html.escape(t)}</div>' for i, t in texts)
        return {"text/plain": summary,
                "text/html": f'<div class="tex2jax_ignore mathjax_ignore">{bar}'
                             f"<span>{html.escape(summary)}</span>{live}</div>"}

"""``threadrun.form()``: an ipywidgets form over the same path as ``%%threadrun``.

The form turns its fields into a ``Command`` with ``api.command`` (all validation and request
building live there) and runs it with ``api.execute`` on a background thread, so the kernel
stays responsive: ``on_sweep`` hands over the Sweep that **Stop** cancels, ``on_row`` advances the
progress bar. Rows accumulate in ``form.results`` and in the Output under the form. Its state is
``form.value``, a plain dict (readable and settable), so it can be driven without a browser.

The package exports ``show_form`` as ``threadrun.form``; the module is named ``form_app`` so that
importing it never replaces that function with a module.
"""
from __future__ import annotations

import html
import re
import threading
import time
from typing import Any, cast

import ipywidgets as W
import pandas as pd

from .. import api
from ..errors import ThreadrunError, ValidationError
from ..grid import notices, options
from ..rows.row import frame
from . import display
from .cell_text import cell_text
from .form_widgets import (
    InputPicker,
    MessageEditor,
    ModelPicker,
    TemperaturePicker,
    form_picture,
    labelled,
    notebook_namespace,
    option_widget,
    read_field,
    write_field,
)

__all__ = ["ThreadrunForm", "show_form", "DEFAULTS", "SHOWN_COLUMNS"]

#: Where the table's simple form fields go (any other option with a ``widget`` gets a row of its own).
_ROWS: list[tuple[str, ...]] = [("top_p", "repeat", "concurrency"), ("max_completion_tokens",),
                                ("assistant",), ("label",), ("instructions",)]
#: Labels beside the one-field rows.
_LABELS = {"assistant": "Assistant", "label": "Label", "instructions": "Instructions"}


def _simple_fields() -> list[options.Option]:
    """The table's options that the form shows as a simple field, in the form's order."""
    placed = [name for row in _ROWS for name in row]
    shown = [o for o in options.OPTIONS if o.widget]
    return sorted(shown, key=lambda o: placed.index(o.name) if o.name in placed else len(placed))


#: The form's fields and their defaults (``form.value`` has exactly these keys).
DEFAULTS: dict[str, Any] = {
    "models": ["gpt-5.4-mini"],
    "temperature": "",  # "0, 0.7" (list) or {"start", "stop", "step"} (range); "" = default
    **{o.name: o.default for o in _simple_fields()},
    "messages": [{"role": "user", "content": ""}],  # type your question here
}
#: Fields ``form.value`` has only when set: ``over``, a notebook DataFrame's name (``--over``).
OPTIONAL = {"over": ""}
#: Columns shown under the form (``form.results`` keeps them all).
SHOWN_COLUMNS = ["model", "provider", "temperature", "top_p", "status", "total_tokens",
                 "cost_usd", "latency_s", "ttft_s", "reply", "error", "label"]
_RENDER_EVERY_S = 0.25


class ThreadrunForm(W.VBox):
    """The form. ``value`` (dict), ``results`` (DataFrame), ``run()``, ``stop()``, ``cell_text()``."""

    def __init__(self, *, base_url: str | None = None, **defaults: Any) -> None:
        self.base_url = base_url
        self.models = ModelPicker()
        self.temperature = TemperaturePicker()
        self._options = _simple_fields()
        self.fields = {o.name: option_widget(o) for o in self._options}
        for name, widget in self.fields.items():
            setattr(self, name, widget)
        self.messages = MessageEditor()
        self.over = InputPicker()
        self.run_button = W.Button(description="Run", icon="play", button_style="primary")
        self.stop_button = W.Button(description="Stop", icon="stop", button_style="danger",
                                    disabled=True)
        self.copy_button = W.Button(description="Copy as cell", icon="copy")
        self.clear_button = W.Button(description="Clear results", icon="eraser")
        self.progress = W.IntProgress(0, min=0, max=1, layout=W.Layout(width="300px"))
        self.status = W.Label("")
        self.notes_area = W.HTML("")  # this run's notices, one per line; cleared on the next run
        self.error_area = W.HTML("")
        self.cell = W.Textarea(rows=6, layout=W.Layout(width="760px", display="none"))
        self.output = W.Output()
        for widget, cls in ((self.run_button, "run"), (self.stop_button, "stop"),
                            (self.copy_button, "copy"), (self.clear_button, "clear"),
                            *((w, n.replace("_", "-")) for n, w in self.fields.items()),
                            (self.status, "status"),
                            (self.error_area, "error"), (self.notes_area, "notes"),
                            (self.cell, "cell"),
                            (self.output, "results"), (self.progress, "progress")):
            widget.add_class(f"threadrun-{cls}")
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.copy_button.on_click(lambda _: self.show_cell())
        self.clear_button.on_click(lambda _: self.clear())
        super().__init__([
            self.models, self.temperature,
            *self._field_rows(), self.over, self.messages,
            W.HBox([self.run_button, self.stop_button, self.copy_button, self.clear_button]),
            W.HBox([self.progress, self.status]), self.notes_area, self.error_area, self.cell,
            self.output])
        self.add_class("threadrun-form")
        self.results: pd.DataFrame = frame([])
        self.last: pd.DataFrame | None = None
        self._worker: threading.Thread | None = None
        self._sweep: Any = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.value = {**DEFAULTS, **defaults}

    # --- value -----------------------------------------------------------------------------

    def _field_rows(self) -> list[W.Widget]:
        """The simple fields laid out: the known rows, then one row per other field."""
        placed = [name for row in _ROWS for name in row]
        rows = [tuple(n for n in row if n in self.fields) for row in _ROWS]
        rows += [(name,) for name in self.fields if name not in placed]
        kinds = {o.name: o.widget for o in self._options}
        return [labelled(self.fields[row[0]], _LABELS.get(row[0], row[0]))
                if len(row) == 1 and kinds[row[0]] in ("text", "area")
                else W.HBox([self.fields[n] for n in row]) for row in rows if row]

    @property
    def value(self) -> dict[str, Any]:
        """The form's fields as a plain dict (keys of ``DEFAULTS``; ``over`` too when one is picked)."""
        return {
            "models": self.models.value,
            "temperature": self.temperature.value,
            **{o.name: read_field(o, self.fields[o.name]) for o in self._options},
            "messages": self.messages.value,
            **({"over": self.over.value} if self.over.value else {}),
        }

    @value.setter
    def value(self, value: dict[str, Any]) -> None:
        """Set some or all fields; unknown keys are a ValueError (nothing is changed then)."""
        if not isinstance(value, dict):
            raise ValueError(f"form.value must be a dict, got {type(value).__name__}")
        unknown = sorted(set(value) - set(DEFAULTS) - set(OPTIONAL))
        if unknown:
            raise ValueError(f"unknown form field {unknown[0]!r}; the fields are "
                             f"{', '.join(DEFAULTS)}")
        for key, val in value.items():
            if key in self.fields:
                write_field(self.fields[key], val)
            else:
                getattr(self, key).value = val

    # --- how a saved notebook shows it -------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The live widget, plus a picture of the form (HTML, inline styles) and a one-line text
        for where widgets cannot render: an untrusted or reopened notebook, GitHub, nbviewer."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/html"] = form_picture(self.value)
            bundle["text/plain"] = ("threadrun form (an interactive widget: run this cell in a live "
                                    "kernel to use it)")
        return bundle

    # --- the shared path -------------------------------------------------------------------

    def command(self, *, dry_run: bool = False) -> api.Command:
        """The form as a ``Command`` (``api.command``; a ValidationError names the form's fields)."""
        v = self.value
        fields = {name: v[name] for name in self.fields}
        over = {"over": v["over"], "namespace": notebook_namespace()} if v.get("over") else {}
        try:
            return api.command(v["messages"], model=v["models"], temperature=self.temperature.grid(),
                               base_url=self.base_url, dry_run=dry_run, progress=False, **over, **fields)
        except ValidationError as exc:
            worded = ValidationError(_one_line(exc), param=exc.param)
            worded.line = exc.line  # its message says the line already
            raise worded from None

    def dry_run(self) -> list[dict]:
        """The request bodies the form would send (``api.execute`` of a dry-run Command)."""
        return api.bodies(self.command(dry_run=True))

    def cell_text(self) -> str:
        """The equivalent ``%%threadrun`` cell (raises ValidationError if the form is invalid)."""
        return cell_text(self.command())

    # --- actions ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        worker = self._worker
        return worker is not None and worker.is_alive()

    @property
    def in_flight(self) -> int:
        """How many runs the server has started that have not ended yet."""
        sweep = self._sweep
        return 0 if sweep is None else len(sweep.in_flight)

    @property
    def error(self) -> str:
        """The one-line error shown in the form ("" when none)."""
        return getattr(self, "_error_text", "")

    def run(self, wait: bool = False) -> pd.DataFrame | None:
        """Validate and start the grid on a background thread (what **Run** does).

        Returns None at once, or with ``wait=True`` the new rows once they are done. A
        ValidationError is shown in the form's error area (see ``form.error``), not raised.
        """
        if self.running:
            return None
        self._set_error("")
        self._set_notes([])
        self.cell.layout.display = "none"
        try:
            cmd = self.command()
            jobs = cmd.plan()
        except (ThreadrunError, ValueError, TypeError) as exc:
            self._set_error(_one_line(exc))
            return None
        total = len(jobs)
        self._stop.clear()
        self.last = None
        self.progress.max, self.progress.value = max(total, 1), 0
        self.progress.bar_style = ""
        self._set_notes(self._thread_notes() + notices.lines(cmd, jobs))
        self._set_status(f"running 0/{total}")
        self.run_button.disabled, self.stop_button.disabled = True, False
        self._worker = threading.Thread(target=self._work, args=(cmd, total),
                                        name="threadrun-form", daemon=True)
        self._worker.start()
        if wait:
            self.wait()
            return self.last
        return None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the runs in flight; True when none are left."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return not self.running

    def stop(self) -> None:
        """Cancel the sweep in flight (what **Stop** does); its runs are cancelled on the server."""
        self._stop.set()
        sweep = self._sweep
        if sweep is not None:
            sweep.cancel()
        if self.running:
            self.status.value = "stopping…"

    def clear(self) -> None:
        """Forget the accumulated rows."""
        self.results = frame([])
        self.output.outputs = ()

    def show_cell(self) -> str | None:
        """Show the equivalent ``%%threadrun`` cell under the buttons (what **Copy as cell** does)."""
        try:
            text = self.cell_text()
        except (ThreadrunError, ValueError, TypeError) as exc:
            self._set_error(_one_line(exc))
            return None
        self._set_error("")
        self.cell.value = text
        self.cell.rows = min(max(text.count("\n") + 1, 2), 20)
        self.cell.layout.display = None
        return text

    def insert_cell(self) -> None:
        """Put the equivalent ``%%threadrun`` cell into a new cell below the running one.

        Call it from a cell (``form.insert_cell()``): IPython's ``set_next_input`` only reaches
        the notebook from a running cell, not from a button's click (jupyterlab#8893), which is
        why **Copy as cell** shows the text instead.
        """
        text = self.show_cell()  # also shown under the buttons, as Copy as cell does
        if text is not None:
            from IPython import get_ipython
            shell = get_ipython()
            if shell is not None:
                shell.set_next_input(text, replace=False)

    # --- the background thread -------------------------------------------------------------

    def _on_sweep(self, sweep: Any) -> None:
        self._sweep = sweep
        if self._stop.is_set():
            sweep.cancel()

    def _work(self, cmd: api.Command, total: int) -> None:
        started = time.monotonic()
        pending: list[dict] = []
        last_render = [0.0]

        def on_row(row: dict) -> None:
            with self._lock:
                pending.append(row)
                done = len(pending)
            self.progress.value = done
            if not self._stop.is_set():
                self._set_status(f"running {done}/{total}")
            now = time.monotonic()
            if now - last_render[0] >= _RENDER_EVERY_S:
                last_render[0] = now
                with self._lock:
                    rows = list(pending)
                self._render(pd.concat([self.results, frame(rows)], ignore_index=True))

        try:
            df = cast(pd.DataFrame, api.execute(cmd, on_sweep=self._on_sweep, on_row=on_row,
                                                 notify=False))  # not a dry run: rows
            self.last = df
            self.results = pd.concat([self.results, df], ignore_index=True) \
                if len(self.results) else df.reset_index(drop=True)
            counts = ", ".join(f"{n} {s}" for s, n in df["status"].value_counts().items())
            verb = "stopped" if self._stop.is_set() else "done"
            self._set_status(f"{verb}: {len(df)} rows ({counts or 'none'}) in "
                             f"{time.monotonic() - started:.1f} s; {len(self.results)} in all")
            self.progress.bar_style = "success" if (df["status"] == "completed").all() \
                else "warning"
        except Exception as exc:  # noqa: BLE001 - a background thread must report, not die
            self._set_error(_one_line(exc))
            self.status.value = "failed"
            self.progress.bar_style = "danger"
        finally:
            self._render(self.results)
            self._sweep = None
            self.run_button.disabled, self.stop_button.disabled = False, True

    def _render(self, df: pd.DataFrame) -> None:
        """Replace the Output's content with ``df`` (no ``with output:``: this is another thread)."""
        if df.empty:
            self.output.outputs = ()
            return
        newest_first = df[[c for c in SHOWN_COLUMNS if c in df.columns]].iloc[::-1]
        newest_first.attrs["threadrun"] = "rows"
        self.output.outputs = ({"output_type": "display_data", "metadata": {},
                                "data": {"text/plain": repr(display.shown(newest_first)),
                                         "text/html": display.html(newest_first)}},)

    def _set_status(self, text: str) -> None:
        self.status.value = text

    @property
    def notes(self) -> list[str]:
        """This run's notices (unknown models, a thread ending on an assistant message...)."""
        return list(getattr(self, "_notes", []))

    def _set_notes(self, lines: list[str]) -> None:
        self._notes = lines
        self.notes_area.value = "".join(
            f'<div style="color:#8a5a00"><b>Note:</b> {html.escape(line)}</div>' for line in lines)

    def _thread_notes(self) -> list[str]:
        """A thread that ends on an assistant message is answered from the user message before it."""
        messages = self.messages.value
        if messages and messages[-1]["role"] == "assistant":
            return [f"the thread ends on an assistant message (message {len(messages)}): the run "
                    "answers the user message before it; add a user message to ask something new"]
        return []

    def _set_error(self, text: str) -> None:
        self._error_text = text
        self.error_area.value = "" if not text else (
            '<div style="color:#b00020;white-space:nowrap;overflow:hidden;'
            f'text-overflow:ellipsis" title="{html.escape(text)}">⚠ {html.escape(text)}</div>')


#: The magic's option names as the form's fields are labelled (a simple field: its option's name).
_FIELD_NAMES = {**{o.dashed: o.name for o in options.OPTIONS if o.widget},
                "--temperature": "Temperature", "--model": "Models", "--assistant": "Assistant",
                "--instructions": "Instructions", "--label": "Label"}


def _one_line(exc: BaseException) -> str:
    """An error as one line in the form's words: its field names, messages counted from 1."""
    text = " ".join(str(exc).split())
    for option, field in _FIELD_NAMES.items():
        text = re.sub(re.escape(option) + r"(?![\w-])", field, text)
    text = re.sub(r"(?:thread\.)?messages\[(\d+)\]", lambda m: f"message {int(m.group(1)) + 1}", text)
    return text if isinstance(exc, ThreadrunError) else f"{type(exc).__name__}: {text}"


def show_form(base_url: str | None = None, **defaults: Any) -> ThreadrunForm:
    """A new form (display it by leaving it last in a cell); ``defaults`` are ``form.value`` keys;
    ``base_url`` defaults to ``$OPENAI_BASE_URL`` at run time, as for the magic."""
    return ThreadrunForm(base_url=base_url, **defaults)

"""The form's composite widgets: model picker, temperature (list or range) and message editor.

Each has a plain-Python ``value`` (get and set). They only turn widget state into the values
``api.command`` accepts; every check of those values happens there, not here.
"""
from __future__ import annotations

import html
import math
from typing import Any

import ipywidgets as W

from ..errors import ValidationError
from ..grid.options import Option
from ..grid.plan import split_list
from ..providers.catalog import live_models

ROLES = ("user", "assistant")
MAX_RANGE_POINTS = 100
_LABEL = {"description_width": "110px"}


def labelled(widget: W.Widget, text: str) -> W.HBox:
    """``widget`` after a fixed-width label."""
    return W.HBox([W.Label(text, layout=W.Layout(width="110px")), widget])


class ModelPicker(W.HBox):
    """OpenAI's live models (multi-select) plus free text for others, comma-separated."""

    def __init__(self) -> None:
        self.choices = tuple(live_models())
        self.known = W.SelectMultiple(options=self.choices, rows=6, description="Models",
                                      style=_LABEL, layout=W.Layout(width="340px"))
        self.other = W.Text(placeholder="provider:model, comma-separated (ollama:llama3.2, openai:gpt-5-mini)",
                            layout=W.Layout(width="300px"))
        self.hint = W.HTML('<small style="color:#666">Ctrl+click (⌘+click on a Mac) picks several; '
                           'Shift+click a range. Models of other providers: type them as '
                           '<code>provider:model</code>, comma-separated.</small>',
                           layout=W.Layout(width="300px"))
        super().__init__([self.known, W.VBox([self.other, self.hint])])
        self.add_class("threadrun-models")

    @property
    def value(self) -> list[str]:
        return list(self.known.value) + [str(m) for m in split_list(self.other.value)]

    @value.setter
    def value(self, models: Any) -> None:
        models = [str(m) for m in split_list(models)]
        self.known.value = tuple(m for m in models if m in self.choices)
        self.other.value = ", ".join(m for m in models if m not in self.choices)


def number_or_text(text: Any) -> Any:
    """A number when ``text`` reads as one, else the text (so api.command names the problem)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        return float(text)
    except (TypeError, ValueError):
        return text.strip() if isinstance(text, str) else text


class TemperaturePicker(W.VBox):
    """Temperatures as a comma-separated list, or as a range ``start..stop`` by ``step``."""

    def __init__(self) -> None:
        self.mode = W.ToggleButtons(options=["list", "range"], value="list",
                                    style={"button_width": "60px"})
        self.text = W.Text(placeholder="e.g. 0, 0.7, 1.2 (blank: the assistant's)",
                           layout=W.Layout(width="280px"))
        box = W.Layout(width="120px")
        self.start = W.FloatText(0.0, description="from", style={"description_width": "36px"},
                                 layout=box)
        self.stop = W.FloatText(1.0, description="to", style={"description_width": "24px"},
                                layout=box)
        self.step = W.FloatText(0.5, description="step", style={"description_width": "36px"},
                                layout=box)
        self.range_box = W.HBox([self.start, self.stop, self.step])
        super().__init__([labelled(W.HBox([self.mode, self.text, self.range_box]),
                                   "Temperature")])
        self.add_class("threadrun-temperature")
        self.mode.observe(lambda _: self._show(), "value")
        self._show()

    def _show(self) -> None:
        ranged = self.mode.value == "range"
        self.range_box.layout.display = None if ranged else "none"
        self.text.layout.display = "none" if ranged else None

    @property
    def value(self) -> str | dict[str, float]:
        """The list text, or ``{"start", "stop", "step"}`` in range mode."""
        if self.mode.value == "range":
            return {"start": self.start.value, "stop": self.stop.value, "step": self.step.value}
        return self.text.value

    @value.setter
    def value(self, value: Any) -> None:
        if isinstance(value, dict):
            extra = set(value) - {"start", "stop", "step"}
            if extra:
                raise ValueError(f"a temperature range has start, stop and step, "
                                 f"not {sorted(extra)[0]!r}")
            self.start.value = float(value.get("start", self.start.value))
            self.stop.value = float(value.get("stop", self.stop.value))
            self.step.value = float(value.get("step", self.step.value))
            self.mode.value = "range"
            return
        if value is None:
            text = ""
        elif isinstance(value, (list, tuple)):
            text = ", ".join(str(v) for v in value)
        else:
            text = str(value)
        self.text.value = text
        self.mode.value = "list"

    def grid(self) -> Any:
        """What ``api.command(temperature=...)`` gets: the list text, or the range's values."""
        value = self.value
        if isinstance(value, str):
            return value if value.strip() else None  # a blank field: the default temperature
        return expand_range(**value)


def expand_range(start: float, stop: float, step: float) -> list[float]:
    """``start, start+step, ... <= stop`` (rounded to 10 places so 0.1 steps stay exact)."""
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise ValidationError("the temperature range needs finite numbers", param="temperature")
    if step <= 0:
        raise ValidationError(f"the temperature step must be more than 0, got {step:g}",
                              param="temperature")
    if stop < start:
        raise ValidationError(f"the temperature range ends ({stop:g}) before it starts "
                              f"({start:g})", param="temperature")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if count > MAX_RANGE_POINTS:
        raise ValidationError(f"the temperature range has {count} values; at most "
                              f"{MAX_RANGE_POINTS}, use a larger step", param="temperature")
    return [round(start + i * step, 10) for i in range(count)]


class _MessageRow:
    """One message: role dropdown, text, and up / down / remove buttons."""

    def __init__(self, editor: "MessageEditor", role: str, content: str) -> None:
        self.role = W.Dropdown(options=ROLES, value=role, layout=W.Layout(width="110px"))
        self.text = W.Textarea(content, rows=2, layout=W.Layout(width="460px"),
                               placeholder="message text")
        buttons = []
        for icon, tip, cls, action in (("arrow-up", "move up", "up", lambda: editor.move(self, -1)),
                                       ("arrow-down", "move down", "down",
                                        lambda: editor.move(self, 1)),
                                       ("trash", "remove", "remove", lambda: editor.remove(self))):
            button = W.Button(icon=icon, tooltip=tip, layout=W.Layout(width="36px"))
            button.add_class(f"threadrun-msg-{cls}")
            button.on_click(lambda _, act=action: act())
            buttons.append(button)
        self.box = W.HBox([self.role, self.text, *buttons])
        self.box.add_class("threadrun-message")


class MessageEditor(W.VBox):
    """The thread's messages: add, remove, reorder; each a role and a text."""

    def __init__(self) -> None:
        self.rows: list[_MessageRow] = []
        self.list = W.VBox()
        # the new message's role is on its button: a typed follow-up is never sent as the
        # assistant's answer because the button guessed the role
        self.add_user = W.Button(description="+ user", tooltip="add a user message")
        self.add_assistant = W.Button(description="+ assistant",
                                      tooltip="add an assistant message (an earlier answer)")
        for button, role in ((self.add_user, "user"), (self.add_assistant, "assistant")):
            button.add_class(f"threadrun-msg-add-{role}")
            button.on_click(lambda _, r=role: self.add(r))
        super().__init__([W.Label("Messages"), self.list,
                          W.HBox([self.add_user, self.add_assistant])])
        self.add_class("threadrun-messages")

    def _refresh(self) -> None:
        self.list.children = tuple(row.box for row in self.rows)

    def add(self, role: str | None = None, content: str = "") -> None:
        """Append a message (by default the role after the last one's)."""
        if role is None:
            role = "assistant" if self.rows and self.rows[-1].role.value == "user" else "user"
        self.rows.append(_MessageRow(self, role, content))
        self._refresh()

    def remove(self, row: _MessageRow) -> None:
        self.rows.remove(row)
        self._refresh()

    def move(self, row: _MessageRow, delta: int) -> None:
        i = self.rows.index(row)
        j = i + delta
        if 0 <= j < len(self.rows):
            self.rows[i], self.rows[j] = self.rows[j], self.rows[i]
            self._refresh()

    @property
    def value(self) -> list[dict[str, str]]:
        return [{"role": r.role.value, "content": r.text.value} for r in self.rows]

    @value.setter
    def value(self, messages: Any) -> None:
        if isinstance(messages, (str, dict)) or not isinstance(messages, (list, tuple)):
            raise ValueError("messages must be a list of {'role', 'content'} dicts")
        rows = []
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict) or set(msg) != {"role", "content"} \
                    or msg["role"] not in ROLES or not isinstance(msg["content"], str):
                raise ValueError(f"messages[{i}] must be {{'role': 'user' or 'assistant', "
                                 f"'content': text}}, got {msg!r}")
            rows.append(_MessageRow(self, msg["role"], msg["content"]))
        self.rows = rows
        self._refresh()


_NUMBER = W.Layout(width="190px")


def option_widget(option: Option) -> W.Widget:
    """The form field of a table option with a ``widget``."""
    if option.widget == "int":
        width = f"{max(60, 8 * len(option.name))}px"
        return W.IntText(option.default or 0, description=option.name,
                         style={"description_width": width}, layout=_NUMBER)
    if option.widget in ("number", "count"):
        width = "110px" if option.widget == "number" else "160px"
        return W.Text(description=option.name, placeholder=option.placeholder,
                      style={"description_width": width}, layout=W.Layout(width="330px"))
    if option.widget == "area":
        return W.Textarea(placeholder=option.placeholder, rows=2, layout=W.Layout(width="600px"))
    return W.Text(placeholder=option.placeholder, layout=W.Layout(width="400px"))


def read_field(option: Option, widget: W.Widget) -> Any:
    """A field's value as ``api.command`` takes it (blank text: None)."""
    if option.widget == "int":
        return widget.value
    if option.widget == "number":  # a number typed as text: the number, else the text to refuse
        return number_or_text(widget.value)
    if option.widget == "count":  # a whole number typed as text, else the text to refuse
        text = widget.value.strip()
        return None if not text else int(text) if text.isdigit() else text
    return (widget.value if widget.value.strip() else None)


def write_field(widget: W.Widget, value: Any) -> None:
    widget.value = int(value) if isinstance(widget, W.IntText) else ("" if value is None else str(value))


_CELL = "padding:2px 8px;text-align:left;vertical-align:top;white-space:pre-wrap"


def form_picture(value: dict[str, Any]) -> str:
    """A still picture of a form's fields as HTML with inline styles (readable untrusted)."""
    shown = {"Models": ", ".join(value["models"]) or "(none)",
             "Temperature": value["temperature"] if value["temperature"] != "" else "(default)",
             **{name: "" if v is None else v for name, v in value.items()
                if name not in ("models", "temperature", "messages")}}
    rows = [f'<tr><th style="{_CELL}">{html.escape(str(k))}</th>'
            f'<td style="{_CELL}">{html.escape(str(v))}</td></tr>' for k, v in shown.items()]
    rows += [f'<tr><th style="{_CELL}">{html.escape(m["role"])}</th>'
             f'<td style="{_CELL}">{html.escape(m["content"])}</td></tr>' for m in value["messages"]]
    return ('<div class="tex2jax_ignore mathjax_ignore" style="border:1px solid #ccc;'
            'padding:6px;display:inline-block"><div style="font-weight:bold">threadrun form '
            '<span style="font-weight:normal;color:#666">(a picture: run this cell in a live '
            f'kernel to use the form)</span></div><table>{"".join(rows)}</table></div>')


def notebook_namespace() -> dict[str, Any] | None:
    """The running notebook's variables (None outside IPython)."""
    from IPython import get_ipython
    shell = get_ipython()
    return None if shell is None else shell.user_ns


class InputPicker(W.HBox):
    """``--over``: a dropdown of the notebook's DataFrames (none: one run per grid cell)."""

    def __init__(self) -> None:
        self.dropdown = W.Dropdown(options=[("none", "")], value="", description="Inputs",
                                   style=_LABEL, layout=W.Layout(width="340px"))
        self.refresh_button = W.Button(icon="refresh", tooltip="List the notebook's DataFrames again",
                                       layout=W.Layout(width="36px"))
        self.hint = W.HTML('<small style="color:#666">each row fills the messages\' '
                           '<code>{column}</code> placeholders</small>')
        self.refresh_button.on_click(lambda _: self.refresh())
        super().__init__([self.dropdown, self.refresh_button, self.hint])
        self.add_class("threadrun-over")
        self.refresh()

    @property
    def options(self) -> list[str]:
        """The DataFrame variables listed (without "none")."""
        return [value for _, value in self.dropdown.options if value]

    def refresh(self, keep: str | None = None) -> None:
        """List the notebook's DataFrame variables again (and ``keep``, so a set name stays)."""
        import pandas as pd
        namespace = notebook_namespace() or {}
        names = sorted(k for k, v in namespace.items()
                       if isinstance(v, pd.DataFrame) and not k.startswith("_"))
        current = self.dropdown.value if keep is None else keep
        if current and current not in names:
            names.append(current)  # gone or never there: api.command names the problem
        self.dropdown.options = [("none", "")] + [(n, n) for n in names]
        self.dropdown.value = current or ""

    @property
    def value(self) -> str:
        return str(self.dropdown.value or "")

    @value.setter
    def value(self, name: Any) -> None:
        self.refresh(keep=str(name or ""))

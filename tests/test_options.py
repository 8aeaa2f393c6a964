"""Each option is declared once, in ``options.OPTIONS``: the magic, Command, checks, %config and
Copy-as-cell all follow the table."""
from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import pytest
from IPython.core.error import UsageError
from traitlets import TraitError

from threadrun import api
from threadrun.errors import ValidationError
from threadrun.grid import options

FAKE = options.Option("fake_knob", "send", "A knob no code reads.", kind=int, default=3,
                      minimum=1, trait=True, widget="int")


@contextmanager
def rebuilt(*modules: ModuleType) -> Iterator[None]:
    """Re-run ``modules`` (they rebuild from the table), then put their original objects back.

    Reloading again afterwards would not restore them: it mints a third ``DEFAULTS``,
    ``ThreadrunMagics``... while other test modules (``from threadrun.faces.form import DEFAULTS``)
    and the session's shell still hold the originals, so a later test patched or checked a stale one.
    """
    saved = [(module, dict(vars(module))) for module in modules]
    try:
        for module in modules:
            importlib.reload(module)
        yield
    finally:
        for module, namespace in saved:
            vars(module).clear()
            vars(module).update(namespace)


@pytest.fixture
def with_fake_option(monkeypatch, _shell):
    """The table with one more option; the magic and the form rebuilt from it, then restored."""
    import threadrun.faces.form
    import threadrun.faces.magic
    monkeypatch.setattr(options, "OPTIONS", options.OPTIONS + (FAKE,))
    with rebuilt(threadrun.faces.magic, threadrun.faces.form):
        yield threadrun.faces.magic.ThreadrunMagics(shell=_shell), threadrun.faces.form


def test_a_new_option_in_the_table_reaches_magic_command_checks_config_cell_and_form(with_fake_option):
    magics, form_app = with_fake_option
    assert "--fake-knob" in magics.threadrun.__doc__
    cmd, _ = magics._command("--fake-knob 5 -m echo:a", "user: hi")
    assert cmd.fake_knob == 5 and cmd.settings["fake_knob"] == 5
    with pytest.raises(UsageError, match=r"^--fake-knob must be 1 or more, got 0$"):
        magics._command("--fake-knob 0", "user: hi")
    assert magics.fake_knob == 3  # a %config trait with the table's default...
    with pytest.raises(TraitError, match="ThreadrunMagics.fake_knob must be 1 or more, got 0"):
        magics.fake_knob = 0  # ...and its check
    from threadrun.faces.cell_text import cell_text
    assert "--fake-knob 5" in cell_text(cmd).splitlines()[0]
    assert "--fake-knob" not in cell_text(api.command("user: hi")).splitlines()[0]  # the default
    form = form_app.ThreadrunForm()
    assert form.value["fake_knob"] == 3
    form.value = {"fake_knob": 7, "messages": [{"role": "user", "content": "hi"}]}
    assert form.command().fake_knob == 7


def test_the_table_declares_every_magic_argument_once():
    from threadrun.faces.magic import ThreadrunMagics
    parser = ThreadrunMagics.threadrun.parser
    flags = [f for action in parser._actions for f in action.option_strings if f.startswith("--")]
    declared = [o.dashed for o in options.OPTIONS if o.flag] + [o.off for o in options.OPTIONS if o.off]
    assert sorted(flags) == sorted(declared)
    assert len(flags) == len(set(flags))


def test_traits_are_exactly_the_tables_trait_options():
    from threadrun.faces.magic import ThreadrunMagics
    traits = set(ThreadrunMagics.class_traits(config=True))
    assert traits == {o.name for o in options.OPTIONS if o.trait}


@pytest.mark.parametrize("name, value, message", [
    ("timeout", 0, "--timeout must be more than 0 seconds, got 0"),
    ("deadline", -1.5, "--deadline must be more than 0 seconds, got -1.5"),
    ("max_retries", -1, "--max-retries must be 0 or more, got -1"),
    ("concurrency", 0, "--concurrency must be 1 or more, got 0"),
    ("rate", 0.0, "--rate must be more than 0 requests per minute, got 0"),
])
def test_a_bound_is_checked_the_same_way_from_python_and_the_magic(name, value, message):
    with pytest.raises(ValidationError) as info:
        api.command("user: hi", **{name: value})
    assert str(info.value) == message


def test_an_unknown_keyword_names_the_closest_option():
    with pytest.raises(ValidationError, match=r"unknown option 'temprature' \(did you mean 'temperature'\?\)"):
        api.command("user: hi", temprature=0.5)


def test_magic_only_options_do_not_reach_a_command():
    with pytest.raises(ValidationError, match="unknown option 'out'"):
        api.command("user: hi", out="df")


def test_rebuilding_from_the_table_leaves_the_original_objects_for_later_tests():
    import threadrun.faces.form
    import threadrun.faces.magic
    before = (threadrun.faces.form.DEFAULTS, threadrun.faces.form.show_form,
              threadrun.faces.magic.ThreadrunMagics)
    with rebuilt(threadrun.faces.magic, threadrun.faces.form):
        assert threadrun.faces.form.DEFAULTS is not before[0]  # really rebuilt
    assert (threadrun.faces.form.DEFAULTS, threadrun.faces.form.show_form,
            threadrun.faces.magic.ThreadrunMagics) == before
    assert threadrun.faces.form.DEFAULTS is before[0]

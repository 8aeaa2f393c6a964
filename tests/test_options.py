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


NUMERIC = [o for o in options.OPTIONS if o.kind in (int, float) and o.parse is None and o.role != "cell"]
BOOLS = [o for o in options.OPTIONS if o.kind is bool and o.parse is None and o.role != "cell"]


def test_the_typed_options_are_the_ones_this_file_checks():
    """Every int/float/bool option without a parser of its own is checked by its kind."""
    assert {o.name for o in NUMERIC} >= {"budget", "max_completion_tokens", "max_prompt_tokens",
                                         "timeout", "deadline", "concurrency", "rate", "max_steps"}
    assert {o.name for o in BOOLS} >= {"fresh", "allow_ignored", "dry_run", "stream", "progress"}


@pytest.mark.parametrize("option", NUMERIC, ids=lambda o: o.name)
@pytest.mark.parametrize("value", ["$5", [300], True, {"n": 1}])
def test_a_numeric_option_of_the_wrong_type_is_one_line_naming_it_and_the_value(option, value):
    with pytest.raises(ValidationError) as info:
        api.command("user: hi", **{option.name: value})
    message = str(info.value)
    assert "\n" not in message and info.value.param == option.name
    assert message.startswith(f"{option.dashed} expects a ") and message.endswith(repr(value))


def test_a_numeric_option_of_the_wrong_type_next_to_a_cap_is_not_a_type_error():
    """threadrun.run(..., max_completion_tokens=300, budget="$5") raised TypeError ('>' between
    str and int) before: the bound was compared with the raw value."""
    with pytest.raises(ValidationError, match=r"^--budget expects a number, got '\$5'$"):
        api.command("user: hi", model="echo:gpt-4o", max_completion_tokens=300, budget="$5")


@pytest.mark.parametrize("option", NUMERIC, ids=lambda o: o.name)
def test_a_numeric_option_as_text_is_read_as_the_magic_reads_it(option):
    """The magic's parser is int() / float() of the text: so is a string given from Python."""
    cmd = api.command("user: hi", **{option.name: " 300 "})
    value = cmd.fields.get(option.name, cmd.settings.get(option.name))
    assert value == 300 and type(value) is option.kind
    assert api.command("user: hi", budget="5").budget == 5.0  # the new user's call
    assert api.command("user: hi", temperature="0.5").temperatures == [0.5]  # as temperature does


def test_a_whole_number_option_refuses_a_fraction_and_takes_numpys_ints():
    np = pytest.importorskip("numpy")
    with pytest.raises(ValidationError, match=r"^--max-completion-tokens expects a whole number, got 300.5$"):
        api.command("user: hi", max_completion_tokens=300.5)
    assert api.command("user: hi", concurrency=np.int64(4)).concurrency == 4
    assert api.command("user: hi", budget=np.float32(0.5)).budget == 0.5


@pytest.mark.parametrize("option", BOOLS, ids=lambda o: o.name)
@pytest.mark.parametrize("value", ["yes", "False", 1, 0])
def test_a_bool_option_given_anything_but_a_bool_is_one_line(option, value):
    with pytest.raises(ValidationError) as info:
        api.command("user: hi", **{option.name: value})
    assert str(info.value) == (f"{option.dashed if option.flag else option.name} expects True or "
                               f"False, got {value!r}") and info.value.param == option.name


def test_a_bool_option_takes_python_and_numpy_bools():
    np = pytest.importorskip("numpy")
    assert api.command("user: hi", fresh=True).fresh is True
    assert api.command("user: hi", allow_ignored=np.bool_(True)).allow_ignored is True


@pytest.mark.parametrize("value, named", [(["flex", None], "None"), (["flex", ""], "an empty string")])
def test_a_none_in_a_grid_list_is_named(value, named):
    with pytest.raises(ValidationError) as info:
        api.command("user: hi", service_tier=value)
    assert str(info.value) == (f"--service-tier has {named} in {value!r}; give each item a value "
                               "('default' is the standard tier)")
    with pytest.raises(ValidationError, match=r"^--model has None in \['echo:a', None\]; give each"):
        api.command("user: hi", model=["echo:a", None])

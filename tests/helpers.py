"""Small helpers several test modules share (importable: pyproject puts tests/ on the path)."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from threadrun.errors import ValidationError

#: The spec's terminal run statuses, written out here on purpose: tests check the code's own
#: ``threadrun.spec.TERMINAL`` against this independent copy rather than with itself.
TERMINAL = frozenset({"completed", "failed", "cancelled", "incomplete", "expired"})


def error_of(call: Callable[..., Any], *args: Any, **kwargs: Any) -> ValidationError:
    """The ValidationError ``call`` raises, checked to be one line."""
    with pytest.raises(ValidationError) as info:
        call(*args, **kwargs)
    assert "\n" not in str(info.value)
    return info.value



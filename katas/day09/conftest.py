"""Day 09 fixtures: bad input must fail with a ValueError that says which field is wrong."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest


@pytest.fixture(scope="session")
def value_error_naming():
    """`with value_error_naming("traffic_split"): ...` expects a ValueError naming that field.

    Session-scoped because it holds no state, so hypothesis tests may use it too.
    """

    @contextmanager
    def expect(field: str):
        try:
            yield
        except ValueError as exc:
            whole_word = rf"(?<![A-Za-z0-9_]){re.escape(field)}(?![A-Za-z0-9_])"
            assert re.search(whole_word, str(exc)), (
                f"the ValueError should name the field {field!r} so the user knows what to fix, "
                f"but it said: {exc}"
            )
        except NotImplementedError:
            raise
        except Exception as exc:
            pytest.fail(f"expected a ValueError naming {field!r}, got {type(exc).__name__}: {exc}",
                        pytrace=False)
        else:
            pytest.fail(f"expected a ValueError naming {field!r}, but the input was accepted",
                        pytrace=False)

    return expect

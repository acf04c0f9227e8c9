"""Test doubles the days share, for the learner's own logic (never for the real parts).

Code that waits or reads the time takes `clock` and `sleep` arguments; the tests pass a
`FakeClock` and its `sleep`, so a retry loop, a token bucket or a monitoring window is
checked to the second without the test spending those seconds.
"""

from __future__ import annotations

EPOCH = 1_700_000_000.0  # a fixed epoch second, far from 0, so mixing it up with wall time shows


class FakeClock:
    """Seconds that move only when a test advances them or the code under test sleeps.

    Call it for the time, as `time.time()` or `time.monotonic()`; pass `clock.sleep` as the
    sleep function: each pause is recorded in `sleeps` and moves the clock by its length.
    """

    def __init__(self, start: float = EPOCH) -> None:
        self.start = start
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"sleep length must be non-negative, got {seconds}")  # as time.sleep does
        self.sleeps.append(seconds)
        self.now += seconds

    @property
    def elapsed(self) -> float:
        """Seconds since the clock was made."""
        return self.now - self.start


def option_values(argv: list[str], *names: str) -> list[str]:
    """The values a recorded command line gave an option, written `--opt value` or
    `--opt=value` (both are how real CLIs take it), so a test never rejects either form."""
    values = []
    for i, arg in enumerate(argv):
        if arg in names and i + 1 < len(argv):
            values.append(argv[i + 1])
        elif "=" in arg and arg.split("=", 1)[0] in names:
            values.append(arg.split("=", 1)[1])
    return values

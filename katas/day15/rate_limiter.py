"""Task 2: a token-bucket rate limiter, the gate in front of a model server.

Contract (the tests check exactly this):
- `TokenBucketRateLimiter(capacity, refill_rate, clock=time.monotonic)`; capacity <= 0
  or refill_rate < 0 (or either NaN) raises ValueError. The bucket starts full.
- Tokens refill continuously at `refill_rate` per second of `clock()` time (fractions
  count, every stretch of time exactly once, however short), never beyond `capacity`.
- `consume(tokens=1)` takes all the tokens and returns True, or takes none and
  returns False (the bools themselves, also for NumPy numbers: never a numpy.bool_). tokens <= 0 (-inf too, or NaN) raises ValueError; more than `capacity` (infinity, or an int like 10**400,
  too) returns False.
  Compare the exact count, with no tolerance: 0.99999 (or 1 - 2**-52) tokens are not enough for 1.
- `get_available_tokens()` returns the current (fractional) number of tokens, unrounded, as a float
  (an int or the NumPy float you were given passes; a Fraction or Decimal does not: convert it back).
- Safe to share between threads: concurrent consumers never get more than the bucket holds.
  Make the lock in __init__ (a lock made on first use is itself a race).
  If clock() raises, the limiter stays usable (release the lock on every path).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # TODO(task 2): validate, start full, remember when you last looked at the clock.
        raise NotImplementedError("task 2")

    def consume(self, tokens: float = 1) -> bool:
        # TODO(task 2): refill for the time passed, then take all of `tokens` or none.
        raise NotImplementedError("task 2")

    def get_available_tokens(self) -> float:
        # TODO(task 2): refill for the time passed and report the tokens.
        raise NotImplementedError("task 2")

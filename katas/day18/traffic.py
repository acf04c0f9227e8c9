"""Task 1: a sticky, weighted traffic splitter for canaries and A/B tests.

Contract (the tests check exactly this):
- `TrafficSplitter(weights, salt="")`: weights >= 0 with a positive sum, normalised;
  anything else (a negative, NaN or infinite weight, an empty mapping, a zero sum) is a ValueError.
  Finite weights whose float sum overflows (`{"a": 1e308, "b": 1e308}`) are normalised too.
- `route(user_id)` is deterministic and the same in every process (no built-in `hash()`); a user id
  is any str, a lone surrogate (`"\\ud800"`) included (encode with `errors="surrogatepass"`).
- Over 100,000 distinct users each variant's share is within 1 percentage point of its weight.
- A different `salt` gives an independent assignment.
- `with_weights(new_weights)` returns a new splitter with the same salt; raising one
  variant's weight while the others keep their relative proportions never moves a user out
  of that variant (a canary ramp from 5 % to 50 % keeps every user who saw the canary).
- The assignment depends on the weights and the salt, never on the mapping's key order.
"""

from __future__ import annotations

from collections.abc import Mapping


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # TODO(task 1): validate and normalise the weights, keep the salt.
        raise NotImplementedError("task 1")

    def route(self, user_id: str) -> str:
        """The variant `user_id` sees: the same on every call, in every process."""
        # TODO(task 1): hash (salt, user_id) to a point in [0, 1) and find its variant.
        raise NotImplementedError("task 1")

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        """A new splitter with these weights and the same salt (the next step of a ramp)."""
        # TODO(task 1): a new splitter; this one stays as it is.
        raise NotImplementedError("task 1")

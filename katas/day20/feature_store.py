"""Task 2: an online feature store on Redis, the way Feast's online store works.

Contract (the tests check exactly this; README task 2 says it in full):
- `OnlineFeatureStore(url, *, ttl_s=3600.0, timeout_s=0.1, prefix="fraud:")`: `ttl_s` and
  `timeout_s` must be positive finite numbers (not bools), else ValueError. Creating the
  store does not contact Redis. `close()` and `with` release the connection.
- `write(card_id, features, *, event_ts) -> bool` stores the card's features (a non-empty
  mapping of str names to finite numbers, NumPy ones included) as of `event_ts`. A write whose
  `event_ts` is older than the stored one is ignored (returns False, changes nothing, TTL
  included); otherwise it replaces the whole stored set (returns True). Every key the
  store writes starts with `prefix` and expires `ttl_s` after the last accepted write (of that
  card: each card expires on its own, whatever other cards do).
  Atomic: concurrent writers never leave an older set in place of a newer one; one store may
  be shared by many threads. Times are compared exactly, to the last bit of the float (real
  epoch times, fractions included); the URL's /db is used; writes
  keep working after Redis restarts and forgets its loaded scripts.
- Card ids are used exactly as given (never stripped or case-folded).
- `read(card_id) -> dict[str, float] | None`: the last accepted set (asked of Redis every call), values as floats equal
  to those written (to the last bit); None when there is none (never written, or expired).
- Bad arguments (card_id not a str, bad features, event_ts not finite) raise ValueError
  before Redis is contacted. Redis refusing the connection, gone, or not answering within
  `timeout_s`, or any other redis error (a refused command such as READONLY): StoreUnavailable. Every call tries Redis once and afresh (no retry, no failure remembered).
"""

from __future__ import annotations

from collections.abc import Mapping


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


class OnlineFeatureStore:
    """The latest features of each card, in Redis, with a time to live."""

    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        # TODO(task 2): validate ttl_s and timeout_s; make a redis client for `url` whose
        # connect and socket timeouts are timeout_s (it connects lazily, on first use).
        raise NotImplementedError("task 2")

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        """Store the card's features as of event_ts unless newer ones are stored; True if stored."""
        # TODO(task 2): validate, then compare-and-set on event_ts in ONE atomic step in Redis
        # (a Lua script), setting the TTL in milliseconds; wrap redis errors in StoreUnavailable.
        raise NotImplementedError("task 2")

    def read(self, card_id: str) -> dict[str, float] | None:
        """The card's last accepted features (floats), or None."""
        # TODO(task 2): one round trip; wrap redis errors in StoreUnavailable.
        raise NotImplementedError("task 2")

    def close(self) -> None:
        # TODO(task 2): close the client's connections.
        raise NotImplementedError("task 2")

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

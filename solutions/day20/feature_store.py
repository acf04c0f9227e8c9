"""Task 2: an online feature store on Redis, the way Feast's online store works.

Contract (the tests check exactly this):
- `OnlineFeatureStore(url, *, ttl_s=3600.0, timeout_s=0.1, prefix="fraud:")`: `ttl_s` and
  `timeout_s` must be positive finite numbers, else ValueError. Creating the store does
  not contact Redis.
- `write(card_id, features, *, event_ts) -> bool` stores the card's features (a non-empty
  mapping of str names to finite numbers) as of `event_ts`. A write whose `event_ts` is
  older than the stored one is ignored (returns False, changes nothing); otherwise it
  replaces the whole stored set (returns True). Every key the store writes expires
  `ttl_s` after the last accepted write (to the millisecond). Atomic: concurrent writers
  never leave an older set in place of a newer one.
- `read(card_id) -> dict[str, float] | None`: the last accepted set, as floats; None when
  there is none (never written, or expired).
- Bad arguments raise ValueError before Redis is contacted. Redis unreachable, or not
  answering within `timeout_s`: StoreUnavailable (the redis error chained as its cause).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


# Compare-and-set on event time in one step inside Redis: two writers can never interleave
# between the read of the stored time and the write of the new set.
_WRITE_IF_NEWER = """
local stored = redis.call('HGET', KEYS[1], 'event_ts')
if stored and tonumber(ARGV[1]) < tonumber(stored) then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'event_ts', ARGV[1], 'features', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


def _positive_finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number of seconds, got {value!r}")
    return float(value)


def _finite_number(name: str, value: object) -> float:
    # numbers.Real: NumPy numbers (a window's numpy.int64 count, numpy.float32 amount) are numbers too
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


class OnlineFeatureStore:
    """Latest features per card in a Redis hash: event time + the feature set as JSON."""

    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        self.ttl_s = _positive_finite("ttl_s", ttl_s)
        self.timeout_s = _positive_finite("timeout_s", timeout_s)
        self.prefix = prefix
        # One attempt, no retries: the scorer has a budget of milliseconds, and a dead
        # Redis must be reported at once so it can fall back, not after a retry loop.
        self._redis = redis.Redis.from_url(
            url, socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s,
            retry=Retry(NoBackoff(), 0), decode_responses=True)
        self._write_if_newer = self._redis.register_script(_WRITE_IF_NEWER)

    def _key(self, card_id: object) -> str:
        if not isinstance(card_id, str):
            raise ValueError(f"card_id must be a str, got {card_id!r}")
        return f"{self.prefix}card:{card_id}"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or not features:
            raise ValueError(f"features must be a non-empty mapping, got {features!r}")
        values = {}
        for name, value in features.items():
            if not isinstance(name, str):
                raise ValueError(f"feature names must be str, got {name!r}")
            values[name] = _finite_number(f"feature {name!r}", value)
        ts = _finite_number("event_ts", event_ts)
        ttl_ms = math.ceil(self.ttl_s * 1000)
        try:
            written = self._write_if_newer(keys=[key], args=[repr(ts), json.dumps(values), ttl_ms])
        except redis.RedisError as error:
            raise StoreUnavailable(f"Redis write for card {card_id!r} failed: {error}") from error
        return bool(written)

    def read(self, card_id: str) -> dict[str, float] | None:
        key = self._key(card_id)
        try:
            stored = self._redis.hget(key, "features")
        except redis.RedisError as error:
            raise StoreUnavailable(f"Redis read for card {card_id!r} failed: {error}") from error
        if stored is None:
            return None
        return {name: float(value) for name, value in json.loads(stored).items()}

    def close(self) -> None:
        self._redis.close()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

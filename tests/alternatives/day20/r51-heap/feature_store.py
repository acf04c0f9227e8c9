"""Task 2: online feature store on Redis (Lua compare-and-set, JSON payload)."""

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


_LUA = """
local stored = redis.call('HGET', KEYS[1], 'event_ts')
if stored and tonumber(ARGV[1]) < tonumber(stored) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'event_ts', ARGV[1], 'features', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


def _positive_finite(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number")
    try:
        f = float(value)
    except OverflowError as e:
        raise ValueError(f"{name} too large") from e
    if not math.isfinite(f) or f <= 0:
        raise ValueError(f"{name} must be positive and finite")
    return f


def _number(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number")
    try:
        f = float(value)
    except OverflowError as e:
        raise ValueError(f"{name} too large") from e
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite")
    return f


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        self.ttl_s = _positive_finite(ttl_s, "ttl_s")
        self.timeout_s = _positive_finite(timeout_s, "timeout_s")
        self.prefix = prefix
        self._client = redis.Redis.from_url(
            url, socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s,
            retry=Retry(NoBackoff(), 0), decode_responses=True)
        self._script = self._client.register_script(_LUA)

    def _key(self, card_id: str) -> str:
        return self.prefix + "card:" + card_id

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not isinstance(features, Mapping) or not features:
            raise ValueError("features must be a non-empty mapping")
        values = {}
        for name, value in features.items():
            if not isinstance(name, str):
                raise ValueError("feature names must be str")
            values[name] = _number(value, f"feature {name!r}")
        ts = _number(event_ts, "event_ts")
        ttl_ms = max(1, math.ceil(self.ttl_s * 1000))
        try:
            return bool(self._script(keys=[self._key(card_id)],
                                     args=[repr(ts), json.dumps(values), ttl_ms]))
        except redis.RedisError as e:
            raise StoreUnavailable(str(e)) from e

    def read(self, card_id: str) -> dict[str, float] | None:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        try:
            raw = self._client.hget(self._key(card_id), "features")
        except redis.RedisError as e:
            raise StoreUnavailable(str(e)) from e
        if raw is None:
            return None
        return {name: float(v) for name, v in json.loads(raw).items()}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Task 2: an online feature store on Redis (a Lua compare-and-set)."""

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


def _finite_number(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, value in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _finite_number(value) or not value > 0:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        self.ttl_s = float(ttl_s)
        self.timeout_s = float(timeout_s)
        self.prefix = prefix
        self._client = redis.Redis.from_url(
            url, socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s,
            retry=Retry(NoBackoff(), 0), retry_on_timeout=False, decode_responses=True)
        self._script = self._client.register_script(_LUA)

    def _key(self, card_id: str) -> str:
        return self.prefix + "card:" + card_id

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        if not isinstance(card_id, str):
            raise ValueError(f"card_id must be a str, got {card_id!r}")
        if not isinstance(features, Mapping) or not features:
            raise ValueError("features must be a non-empty mapping")
        values = {}
        for name, value in features.items():
            if not isinstance(name, str):
                raise ValueError(f"feature name must be a str, got {name!r}")
            if not _finite_number(value):
                raise ValueError(f"feature {name!r} must be a finite number, got {value!r}")
            values[name] = float(value)
        if not _finite_number(event_ts):
            raise ValueError(f"event_ts must be a finite number, got {event_ts!r}")
        ttl_ms = max(1, math.ceil(self.ttl_s * 1000))
        try:
            done = self._script(keys=[self._key(card_id)],
                                args=[repr(float(event_ts)), json.dumps(values), ttl_ms])
        except redis.RedisError as error:
            raise StoreUnavailable(f"redis write failed: {error}") from error
        return bool(done)

    def read(self, card_id: str) -> dict[str, float] | None:
        if not isinstance(card_id, str):
            raise ValueError(f"card_id must be a str, got {card_id!r}")
        try:
            raw = self._client.hget(self._key(card_id), "features")
        except redis.RedisError as error:
            raise StoreUnavailable(f"redis read failed: {error}") from error
        if raw is None:
            return None
        return {name: float(value) for name, value in json.loads(raw).items()}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

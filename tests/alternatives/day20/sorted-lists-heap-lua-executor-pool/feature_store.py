"""Task 2: online feature store on Redis (Lua compare-and-set)."""

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


LUA = """
local stored = redis.call('HGET', KEYS[1], 'event_ts')
if stored and tonumber(ARGV[1]) < tonumber(stored) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'event_ts', ARGV[1], 'features', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


def _finite_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, v in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _finite_number(v) or v <= 0:
                raise ValueError(f"{name} must be a positive finite number")
        self._ttl_ms = math.ceil(ttl_s * 1000)
        self._prefix = prefix
        self._client = redis.Redis.from_url(url, socket_timeout=timeout_s,
                                            socket_connect_timeout=timeout_s,
                                            decode_responses=True, retry=Retry(NoBackoff(), 0))
        self._script = self._client.register_script(LUA)

    def _key(self, card_id) -> str:
        return self._prefix + "card:" + card_id

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not isinstance(features, Mapping) or not features:
            raise ValueError("features must be a non-empty mapping")
        values = {}
        for k, v in features.items():
            if not isinstance(k, str):
                raise ValueError("feature names must be str")
            if not _finite_number(v):
                raise ValueError(f"feature {k} must be a finite number")
            values[k] = float(v)
        if not _finite_number(event_ts):
            raise ValueError("event_ts must be a finite number")
        try:
            return bool(self._script(keys=[self._key(card_id)],
                                     args=[repr(float(event_ts)), json.dumps(values), self._ttl_ms]))
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
        return {k: float(v) for k, v in json.loads(raw).items()}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

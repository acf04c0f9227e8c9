"""Online feature store on Redis with an atomic Lua compare-and-set."""
from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time."""


_LUA = """
local stored = redis.call('HGET', KEYS[1], 'event_ts')
if stored and tonumber(ARGV[1]) < tonumber(stored) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'event_ts', ARGV[1], 'features', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value) -> bool:
    return _is_number(value) and value > 0


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        if not _positive(ttl_s) or not _positive(timeout_s):
            raise ValueError("ttl_s and timeout_s must be positive finite numbers")
        self.ttl_ms = math.ceil(ttl_s * 1000)
        self.prefix = prefix
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            decode_responses=True, retry=Retry(NoBackoff(), 0))
        self._script = self._client.register_script(_LUA)

    def _key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return f"{self.prefix}card:{card_id}"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or not features:
            raise ValueError("features must be a non-empty mapping")
        for name, value in features.items():
            if not isinstance(name, str) or not _is_number(value):
                raise ValueError(f"bad feature {name!r}={value!r}")
        if not _is_number(event_ts):
            raise ValueError("event_ts must be a finite number")
        payload = json.dumps({name: float(v) for name, v in features.items()})
        try:
            return bool(self._script(keys=[key], args=[repr(float(event_ts)), payload, self.ttl_ms]))
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error

    def read(self, card_id: str) -> dict[str, float] | None:
        key = self._key(card_id)
        try:
            raw = self._client.hget(key, "features")
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error
        if raw is None:
            return None
        return {name: float(v) for name, v in json.loads(raw).items()}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

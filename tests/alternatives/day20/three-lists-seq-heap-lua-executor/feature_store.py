"""Task 2: Lua compare-and-set."""
from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    pass


LUA = """
local stored = redis.call('HGET', KEYS[1], 'event_ts')
if stored and tonumber(ARGV[1]) < tonumber(stored) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'event_ts', ARGV[1], 'features', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


def _number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, value in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _number(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number")
        self.ttl_s, self.timeout_s, self.prefix = ttl_s, timeout_s, prefix
        self._client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                            decode_responses=True, retry=Retry(NoBackoff(), 0))
        self._script = self._client.register_script(LUA)

    def _key(self, card_id: str) -> str:
        return f"{self.prefix}card:{card_id}"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not isinstance(features, Mapping) or not features:
            raise ValueError("features must be a non-empty mapping")
        values = {}
        for name, value in features.items():
            if not isinstance(name, str) or not _number(value):
                raise ValueError(f"bad feature {name!r}: {value!r}")
            values[name] = float(value)
        if not _number(event_ts):
            raise ValueError("event_ts must be a finite number")
        try:
            return bool(self._script(keys=[self._key(card_id)],
                                     args=[repr(float(event_ts)), json.dumps(values),
                                           math.ceil(self.ttl_s * 1000)]))
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error

    def read(self, card_id: str) -> dict[str, float] | None:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        try:
            raw = self._client.hget(self._key(card_id), "features")
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error
        if raw is None:
            return None
        return {k: float(v) for k, v in json.loads(raw).items()}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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


_WRITE = """
local stored = redis.call('HGET', KEYS[1], 'event_ts')
if stored and tonumber(ARGV[1]) < tonumber(stored) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'event_ts', ARGV[1], 'features', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


def _finite(value, what) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return value


def _positive(value, what) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be positive and finite")
    return value


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        self.ttl_s = _positive(ttl_s, "ttl_s")
        self.timeout_s = _positive(timeout_s, "timeout_s")
        self.prefix = prefix
        self._client = redis.Redis.from_url(
            url, socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s,
            decode_responses=True, retry=Retry(NoBackoff(), 0), retry_on_timeout=False)
        self._script = self._client.register_script(_WRITE)

    def _key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError(f"card_id must be a str, got {card_id!r}")
        return self.prefix + "card:" + card_id

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or not features:
            raise ValueError("features must be a non-empty mapping")
        values = {}
        for name, value in features.items():
            if not isinstance(name, str):
                raise ValueError(f"feature name must be a str, got {name!r}")
            values[name] = _finite(value, f"feature {name!r}")
        ts = _finite(event_ts, "event_ts")
        ttl_ms = max(1, math.ceil(self.ttl_s * 1000))
        try:
            return bool(self._script(keys=[key], args=[repr(ts), json.dumps(values), ttl_ms]))
        except redis.RedisError as error:
            raise StoreUnavailable(f"redis write failed: {error!r}") from error

    def read(self, card_id: str) -> dict[str, float] | None:
        key = self._key(card_id)
        try:
            payload = self._client.hget(key, "features")
        except redis.RedisError as error:
            raise StoreUnavailable(f"redis read failed: {error!r}") from error
        if payload is None:
            return None
        return {name: float(v) for name, v in json.loads(payload).items()}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

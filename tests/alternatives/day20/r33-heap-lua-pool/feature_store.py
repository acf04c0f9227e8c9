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


_LUA = """
local stored = redis.call('HGET', KEYS[1], 'event_ts')
if stored and tonumber(ARGV[1]) < tonumber(stored) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'event_ts', ARGV[1], 'features', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


def _finite(x) -> bool:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, v in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _finite(v) or v <= 0:
                raise ValueError(f"{name} must be a positive finite number")
        self._ttl_ms = max(1, math.ceil(ttl_s * 1000))
        self._prefix = prefix
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            decode_responses=True, retry=Retry(NoBackoff(), 0), retry_on_timeout=False)
        self._script = self._client.register_script(_LUA)

    def _key(self, card_id):
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
            if not _finite(v):
                raise ValueError(f"feature {k!r} must be a finite number")
            values[k] = float(v)
        if not _finite(event_ts):
            raise ValueError("event_ts must be a finite number")
        try:
            ok = self._script(keys=[self._key(card_id)],
                              args=[repr(float(event_ts)), json.dumps(values), self._ttl_ms])
        except redis.RedisError as e:
            raise StoreUnavailable(str(e)) from e
        return bool(ok)

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

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

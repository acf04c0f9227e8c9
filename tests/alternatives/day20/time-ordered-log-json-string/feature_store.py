"""Online store: one Redis string per card holding JSON {"ts": ..., "f": {...}}, compared and
replaced by a Lua script that decodes the stored JSON with cjson; SET ... PX sets the TTL."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from numbers import Real

import redis

_SCRIPT = """
local old = redis.call('GET', KEYS[1])
if old then
  local stored = cjson.decode(old)
  if tonumber(ARGV[2]) < tonumber(stored['ts']) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""


class StoreUnavailable(Exception):
    """Redis is down or too slow."""


def _finite(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x)


class OnlineFeatureStore:
    def __init__(self, url, *, ttl_s=3600.0, timeout_s=0.1, prefix="fraud:"):
        for name, v in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not (_finite(v) and v > 0):
                raise ValueError(f"{name}={v!r} must be a positive finite number")
        self._ttl_ms = math.ceil(ttl_s * 1000)
        self._prefix = prefix
        pool = redis.ConnectionPool.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                             decode_responses=True)
        self._r = redis.Redis(connection_pool=pool)
        self._cas = self._r.register_script(_SCRIPT)

    def _key(self, card_id):
        if not isinstance(card_id, str):
            raise ValueError(f"card_id must be a string, not {card_id!r}")
        return self._prefix + card_id

    def write(self, card_id, features, *, event_ts):
        key = self._key(card_id)
        if not isinstance(features, Mapping) or not features or not all(isinstance(k, str) and _finite(v) for k, v in features.items()):
            raise ValueError(f"features must be a non-empty mapping of names to finite numbers: {features!r}")
        if not _finite(event_ts):
            raise ValueError(f"event_ts must be finite: {event_ts!r}")
        blob = json.dumps({"ts": float(event_ts), "f": {k: float(v) for k, v in features.items()}})
        try:
            return self._cas(keys=[key], args=[blob, repr(float(event_ts)), self._ttl_ms]) == 1
        except redis.exceptions.RedisError as e:
            raise StoreUnavailable(f"write {card_id!r}: {e}") from e

    def read(self, card_id):
        key = self._key(card_id)
        try:
            blob = self._r.get(key)
        except redis.exceptions.RedisError as e:
            raise StoreUnavailable(f"read {card_id!r}: {e}") from e
        return None if blob is None else {k: float(v) for k, v in json.loads(blob)["f"].items()}

    def close(self):
        self._r.connection_pool.disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

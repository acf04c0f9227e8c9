"""Task 2: online feature store on Redis with WATCH/MULTI."""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


_TS = "meta:event_ts"
_F = "f:"


def _num(value, what):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"{what} must be finite")
    return f


class OnlineFeatureStore:
    def __init__(self, url, *, ttl_s=3600.0, timeout_s=0.1, prefix="fraud:"):
        for name, v in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a positive finite number")
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._prefix = prefix
        pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            decode_responses=True, retry=Retry(NoBackoff(), 0))
        self._redis = redis.Redis(connection_pool=pool)

    def _key(self, card_id):
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return self._prefix + "card:" + card_id

    def write(self, card_id, features, *, event_ts):
        key = self._key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        fields = {}
        for name, value in features.items():
            if not isinstance(name, str):
                raise ValueError("feature names must be str")
            fields[_F + name] = repr(_num(value, name))
        ts = _num(event_ts, "event_ts")
        fields[_TS] = repr(ts)
        try:
            with self._redis.pipeline() as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        stored = pipe.hget(key, _TS)
                        if stored is not None and ts < float(stored):
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        pipe.delete(key)
                        pipe.hset(key, mapping=fields)
                        pipe.pexpire(key, self._ttl_ms)
                        pipe.execute()
                        return True
                    except redis.WatchError:
                        continue  # another writer got in between: compare again
        except (redis.RedisError, OSError) as e:
            raise StoreUnavailable(f"redis: {e}") from e

    def read(self, card_id):
        key = self._key(card_id)
        try:
            raw = self._redis.hgetall(key)
        except (redis.RedisError, OSError) as e:
            raise StoreUnavailable(f"redis: {e}") from e
        feats = {k[len(_F):]: float(v) for k, v in raw.items() if k.startswith(_F)}
        return feats or None

    def close(self):
        self._redis.close()
        self._redis.connection_pool.disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

"""Task 2: online feature store on Redis (WATCH/MULTI, one hash per card with prefixed feature fields)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

TIME_FIELD = "t"
FEATURE_PREFIX = "f:"


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, value in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _is_number(value) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        self.ttl_ms = max(1, int(round(ttl_s * 1000)))
        self.prefix = prefix
        pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0), decode_responses=True)
        self.redis = redis.Redis(connection_pool=pool)
        self.pool = pool

    def key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return f"{self.prefix}card:{card_id}"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self.key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        mapping = {}
        for name, value in features.items():
            if not isinstance(name, str):
                raise ValueError("feature names must be str")
            if not _is_number(value) or not math.isfinite(value):
                raise ValueError(f"feature {name!r} must be a finite number")
            mapping[FEATURE_PREFIX + name] = repr(float(value))
        if not _is_number(event_ts) or not math.isfinite(event_ts):
            raise ValueError("event_ts must be a finite number")
        ts = float(event_ts)
        mapping[TIME_FIELD] = repr(ts)
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        stored = pipe.hget(key, TIME_FIELD)
                        if stored is not None and ts < float(stored):
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        pipe.delete(key)
                        pipe.hset(key, mapping=mapping)
                        pipe.pexpire(key, self.ttl_ms)
                        pipe.execute()
                        return True
                    except redis.WatchError:
                        continue  # someone wrote between our read and our EXEC: compare again
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error

    def read(self, card_id: str) -> dict[str, float] | None:
        key = self.key(card_id)
        try:
            fields = self.redis.hgetall(key)
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error
        if not fields:
            return None
        n = len(FEATURE_PREFIX)
        return {name[n:]: float(value) for name, value in fields.items() if name.startswith(FEATURE_PREFIX)}

    def close(self) -> None:
        self.pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

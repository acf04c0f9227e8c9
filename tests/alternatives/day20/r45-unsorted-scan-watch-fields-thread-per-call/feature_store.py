"""Task 2: online feature store on Redis (WATCH/MULTI optimistic transaction, one hash field per feature)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


_TS_FIELD = "meta:event_ts"
_FEATURE = "f:"


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class OnlineFeatureStore:
    """The latest features of each card, in Redis, with a time to live."""

    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, value in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _real(value) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._prefix = prefix
        pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            decode_responses=True, retry=Retry(NoBackoff(), 0))
        self._pool = pool
        self._redis = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))

    def _key(self, card_id: str) -> str:
        return f"{self._prefix}features:{card_id}"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        fields = {}
        for name, value in features.items():
            if not isinstance(name, str):
                raise ValueError(f"feature name {name!r} is not a str")
            if not _real(value) or not math.isfinite(value):
                raise ValueError(f"feature {name!r} has a bad value {value!r}")
            fields[_FEATURE + name] = repr(float(value))
        if not _real(event_ts) or not math.isfinite(event_ts):
            raise ValueError(f"event_ts must be a finite number, got {event_ts!r}")
        ts = float(event_ts)
        fields[_TS_FIELD] = repr(ts)
        key = self._key(card_id)
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        stored = pipe.hget(key, _TS_FIELD)
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
        except redis.RedisError as error:
            raise StoreUnavailable(f"write to redis failed: {error}") from error

    def read(self, card_id: str) -> dict[str, float] | None:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        try:
            stored = self._redis.hgetall(self._key(card_id))
        except redis.RedisError as error:
            raise StoreUnavailable(f"read from redis failed: {error}") from error
        features = {field[len(_FEATURE):]: float(value) for field, value in stored.items()
                    if field.startswith(_FEATURE)}
        return features or None

    def close(self) -> None:
        self._redis.close()
        self._pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

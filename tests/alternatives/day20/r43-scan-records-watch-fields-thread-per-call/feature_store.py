"""Task 2: an online feature store on Redis (WATCH/MULTI optimistic transaction, one field per feature)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


TS_FIELD = "meta:event_ts"
FEATURE = "f:"  # every feature field is "f:" + its name, apart from the store's own field


def _finite(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        if not _finite(ttl_s) or ttl_s <= 0:
            raise ValueError("ttl_s must be a positive finite number")
        if not _finite(timeout_s) or timeout_s <= 0:
            raise ValueError("timeout_s must be a positive finite number")
        self._ttl_ms = max(1, round(float(ttl_s) * 1000))
        self._prefix = prefix
        pool = redis.ConnectionPool.from_url(
            url, socket_timeout=float(timeout_s), socket_connect_timeout=float(timeout_s),
            retry=Retry(NoBackoff(), 0), decode_responses=True)
        self._redis = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))
        self._pool = pool

    def _key(self, card_id: str) -> str:
        return f"{self._prefix}{{card}}:{card_id}"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        fields = {}
        for name, value in features.items():
            if not isinstance(name, str) or not _finite(value):
                raise ValueError(f"bad feature {name!r}={value!r}")
            fields[FEATURE + name] = repr(float(value))
        if not _finite(event_ts):
            raise ValueError("event_ts must be a finite number")
        ts = float(event_ts)
        fields[TS_FIELD] = repr(ts)
        key = self._key(card_id)
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        stored = pipe.hget(key, TS_FIELD)
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
                        continue  # another writer changed the card in between: compare again
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error

    def read(self, card_id: str) -> dict[str, float] | None:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        try:
            stored = self._redis.hgetall(self._key(card_id))
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error
        features = {name[len(FEATURE):]: float(value) for name, value in stored.items()
                    if name.startswith(FEATURE)}
        return features or None

    def close(self) -> None:
        self._redis.close()
        self._pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

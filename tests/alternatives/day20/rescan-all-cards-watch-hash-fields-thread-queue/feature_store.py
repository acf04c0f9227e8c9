"""Task 2: online feature store on Redis (WATCH/MULTI optimistic transaction, one field per feature)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

TS_FIELD = "__event_ts__"
FEATURE_FIELD = "f:"  # every feature field starts with it, the time field never does


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _is_finite_real(x) -> bool:
    return (isinstance(x, numbers.Real) and not isinstance(x, bool)
            and math.isfinite(x))


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        if not (_is_finite_real(ttl_s) and ttl_s > 0):
            raise ValueError("ttl_s must be a positive finite number")
        if not (_is_finite_real(timeout_s) and timeout_s > 0):
            raise ValueError("timeout_s must be a positive finite number")
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._prefix = prefix
        pool = redis.ConnectionPool.from_url(url, socket_timeout=timeout_s,
                                             socket_connect_timeout=timeout_s)
        self._r = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))

    def _key(self, card_id: str) -> str:
        return f"{self._prefix}{card_id}"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        if not isinstance(card_id, str):
            raise ValueError("card_id")
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features")
        mapping = {}
        for name, value in features.items():
            if not isinstance(name, str):
                raise ValueError("feature name")
            if not _is_finite_real(value):
                raise ValueError(f"feature value {name}")
            mapping[FEATURE_FIELD + name] = repr(float(value))
        if not _is_finite_real(event_ts):
            raise ValueError("event_ts")
        ts = float(event_ts)
        mapping[TS_FIELD] = repr(ts)
        key = self._key(card_id)
        try:
            with self._r.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        stored = pipe.hget(key, TS_FIELD)
                        if stored is not None and ts < float(stored):
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        pipe.delete(key)
                        pipe.hset(key, mapping=mapping)
                        pipe.pexpire(key, self._ttl_ms)
                        pipe.execute()
                        return True
                    except redis.WatchError:
                        continue
        except redis.RedisError as e:
            raise StoreUnavailable(repr(e)) from e

    def read(self, card_id: str) -> dict[str, float] | None:
        if not isinstance(card_id, str):
            raise ValueError("card_id")
        try:
            raw = self._r.hgetall(self._key(card_id))
        except redis.RedisError as e:
            raise StoreUnavailable(repr(e)) from e
        if not raw:
            return None
        return {k.decode().removeprefix(FEATURE_FIELD): float(v) for k, v in raw.items()
                if k.decode().startswith(FEATURE_FIELD)}

    def close(self) -> None:
        self._r.close()
        self._r.connection_pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

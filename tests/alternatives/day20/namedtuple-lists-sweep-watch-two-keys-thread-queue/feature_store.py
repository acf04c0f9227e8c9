"""Task 2: WATCH/MULTI optimistic transactions; the features as a Redis hash, the time in its own key."""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time."""


def _finite_real(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        if not (_finite_real(ttl_s) and ttl_s > 0):
            raise ValueError(f"ttl_s must be a positive finite number, got {ttl_s!r}")
        if not (_finite_real(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be a positive finite number, got {timeout_s!r}")
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._prefix = prefix
        self._pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0), decode_responses=True)
        self._redis = redis.Redis(connection_pool=self._pool)

    def _keys(self, card_id: str) -> tuple[str, str]:
        return f"{self._prefix}{card_id}:ts", f"{self._prefix}{card_id}:features"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        if not all(isinstance(k, str) and _finite_real(v) for k, v in features.items()):
            raise ValueError("feature names are str, values finite numbers")
        if not _finite_real(event_ts):
            raise ValueError("event_ts must be a finite number")
        ts = float(event_ts)
        ts_key, f_key = self._keys(card_id)
        mapping = {k: repr(float(v)) for k, v in features.items()}
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(ts_key)
                        stored = pipe.get(ts_key)
                        if stored is not None and ts < float(stored):
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        pipe.set(ts_key, repr(ts), px=self._ttl_ms)
                        pipe.delete(f_key)
                        pipe.hset(f_key, mapping=mapping)
                        pipe.pexpire(f_key, self._ttl_ms)
                        pipe.execute()
                        return True
                    except redis.WatchError:
                        continue
        except redis.RedisError as error:
            raise StoreUnavailable(f"redis: {error}") from error

    def read(self, card_id: str) -> dict[str, float] | None:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        try:
            stored = self._redis.hgetall(self._keys(card_id)[1])
        except redis.RedisError as error:
            raise StoreUnavailable(f"redis: {error}") from error
        return {k: float(v) for k, v in stored.items()} or None

    def close(self) -> None:
        self._redis.close()
        self._pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

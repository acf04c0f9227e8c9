"""Task 2: online store with WATCH/MULTI: a hash of features and a stamp key per card."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import ConstantBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _finite_real(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        if not (_finite_real(ttl_s) and ttl_s > 0):
            raise ValueError(f"ttl_s must be a positive finite number: {ttl_s!r}")
        if not (_finite_real(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be a positive finite number: {timeout_s!r}")
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._prefix = prefix
        pool = redis.ConnectionPool.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                             decode_responses=True, retry=Retry(ConstantBackoff(0), 0))
        self._redis = redis.Redis(connection_pool=pool)

    def _keys(self, card_id) -> tuple[str, str]:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return f"{self._prefix}features:{card_id}", f"{self._prefix}stamp:{card_id}"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        fkey, skey = self._keys(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        if not all(isinstance(k, str) and _finite_real(v) for k, v in features.items()):
            raise ValueError("every feature must be a str name with a finite number")
        if not _finite_real(event_ts):
            raise ValueError("event_ts must be a finite number")
        mapping = {k: repr(float(v)) for k, v in features.items()}
        try:
            with self._redis.pipeline() as pipe:
                while True:
                    try:
                        pipe.watch(skey)
                        stored = pipe.get(skey)
                        if stored is not None and float(event_ts) < float(stored):
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        pipe.delete(fkey)
                        pipe.hset(fkey, mapping=mapping)
                        pipe.set(skey, repr(float(event_ts)), px=self._ttl_ms)
                        pipe.pexpire(fkey, self._ttl_ms)
                        pipe.execute()
                        return True
                    except redis.WatchError:
                        continue
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error

    def read(self, card_id: str) -> dict[str, float] | None:
        fkey, _ = self._keys(card_id)
        try:
            stored = self._redis.hgetall(fkey)
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error
        return {k: float(v) for k, v in stored.items()} or None

    def close(self) -> None:
        self._redis.connection_pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

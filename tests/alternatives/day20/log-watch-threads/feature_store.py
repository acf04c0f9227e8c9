"""Task 2: online feature store on Redis, WATCH/MULTI optimistic transaction, features as hash fields."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _is_finite_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        if not (_is_finite_number(ttl_s) and ttl_s > 0):
            raise ValueError("ttl_s must be a positive finite number")
        if not (_is_finite_number(timeout_s) and timeout_s > 0):
            raise ValueError("timeout_s must be a positive finite number")
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._prefix = prefix
        pool = redis.ConnectionPool.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                             decode_responses=True, retry=Retry(NoBackoff(), 0))
        self._pool = pool
        self._redis = redis.Redis(connection_pool=pool)

    def _keys(self, card_id) -> tuple[str, str]:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return f"{self._prefix}ts:{card_id}", f"{self._prefix}features:{card_id}"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        ts_key, feat_key = self._keys(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        if not all(isinstance(k, str) and _is_finite_number(v) for k, v in features.items()):
            raise ValueError("every feature must be a str name with a finite number")
        if not _is_finite_number(event_ts):
            raise ValueError("event_ts must be a finite number")
        new_ts = float(event_ts)
        mapping = {k: repr(float(v)) for k, v in features.items()}

        def attempt(pipe: redis.client.Pipeline) -> bool:
            stored = pipe.get(ts_key)
            if stored is not None and new_ts < float(stored):
                return False
            pipe.multi()
            pipe.set(ts_key, repr(new_ts), px=self._ttl_ms)
            pipe.delete(feat_key)
            pipe.hset(feat_key, mapping=mapping)
            pipe.pexpire(feat_key, self._ttl_ms)
            return True

        try:
            return self._redis.transaction(attempt, ts_key, value_from_callable=True)
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error

    def read(self, card_id: str) -> dict[str, float] | None:
        _, feat_key = self._keys(card_id)
        try:
            stored = self._redis.hgetall(feat_key)
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error
        return {k: float(v) for k, v in stored.items()} or None

    def close(self) -> None:
        self._redis.close()
        self._pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

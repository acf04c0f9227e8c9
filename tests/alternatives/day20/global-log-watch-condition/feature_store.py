"""Task 2: online feature store on Redis (two keys per card, WATCH/MULTI optimistic locking)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _is_finite_number(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, value in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _is_finite_number(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._prefix = prefix
        self._client = redis.Redis(
            connection_pool=redis.ConnectionPool.from_url(
                url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                retry=Retry(NoBackoff(), 0), decode_responses=True))

    def _keys(self, card_id) -> tuple[str, str]:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        base = f"{self._prefix}{card_id}"
        return base + ":features", base + ":ts"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        features_key, ts_key = self._keys(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        if not all(isinstance(k, str) and _is_finite_number(v) for k, v in features.items()):
            raise ValueError("features map str names to finite numbers")
        if not _is_finite_number(event_ts):
            raise ValueError("event_ts must be a finite number")
        mapping = {k: repr(float(v)) for k, v in features.items()}
        try:
            with self._client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(ts_key)
                        stored = pipe.get(ts_key)
                        if stored is not None and float(event_ts) < float(stored):
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        pipe.delete(features_key)
                        pipe.hset(features_key, mapping=mapping)
                        pipe.set(ts_key, repr(float(event_ts)), px=self._ttl_ms)
                        pipe.pexpire(features_key, self._ttl_ms)
                        pipe.execute()
                        return True
                    except redis.WatchError:
                        continue
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error

    def read(self, card_id: str) -> dict[str, float] | None:
        features_key, _ = self._keys(card_id)
        try:
            stored = self._client.hgetall(features_key)
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error
        return {k: float(v) for k, v in stored.items()} or None

    def close(self) -> None:
        self._client.close()
        self._client.connection_pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

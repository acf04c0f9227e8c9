"""Online feature store: one Redis hash per card, written with WATCH/MULTI/EXEC (optimistic locking)."""
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


def _finite_real(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, value in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _finite_real(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        self._ttl_ms = int(round(ttl_s * 1000)) or 1
        self._prefix = prefix
        pool = redis.ConnectionPool.from_url(url, socket_timeout=timeout_s,
                                             socket_connect_timeout=timeout_s,
                                             decode_responses=True)
        self._pool = pool
        self._redis = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))

    def _key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError(f"card_id must be a str, got {card_id!r}")
        return self._prefix + card_id

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        if any(not isinstance(k, str) or not _finite_real(v) for k, v in features.items()):
            raise ValueError("feature names are str and values finite numbers")
        if not _finite_real(event_ts):
            raise ValueError("event_ts must be a finite number")
        ts = float(event_ts)
        mapping = {FEATURE_FIELD + k: repr(float(v)) for k, v in features.items()}
        mapping[TS_FIELD] = repr(ts)
        try:
            with self._redis.pipeline() as pipe:
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
        except redis.RedisError as error:
            raise StoreUnavailable(repr(error)) from error

    def read(self, card_id: str) -> dict[str, float] | None:
        key = self._key(card_id)
        try:
            stored = self._redis.hgetall(key)
        except redis.RedisError as error:
            raise StoreUnavailable(repr(error)) from error
        if not stored:
            return None
        return {k.removeprefix(FEATURE_FIELD): float(v) for k, v in stored.items() if k.startswith(FEATURE_FIELD)}

    def close(self) -> None:
        self._redis.close()
        self._pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

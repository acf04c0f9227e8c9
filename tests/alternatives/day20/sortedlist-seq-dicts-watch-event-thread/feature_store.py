"""Task 2: the online store with WATCH/MULTI and one hash field per feature."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

TS_FIELD = "__event_ts__"
FEATURE = "f:"


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _finite_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, value in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _finite_real(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        self.ttl_ms = max(1, round(ttl_s * 1000))
        self.prefix = prefix
        pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True,
            retry=Retry(NoBackoff(), 0))
        self.client = redis.Redis(connection_pool=pool)

    def _key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return self.prefix + card_id

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        if not all(isinstance(k, str) and _finite_real(v) for k, v in features.items()):
            raise ValueError("features must map str names to finite numbers")
        if not _finite_real(event_ts):
            raise ValueError("event_ts must be a finite number")
        ts = float(event_ts)
        mapping = {FEATURE + k: repr(float(v)) for k, v in features.items()}
        mapping[TS_FIELD] = repr(ts)
        try:
            with self.client.pipeline(transaction=True) as pipe:
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
                        pipe.pexpire(key, self.ttl_ms)
                        pipe.execute()
                        return True
                    except redis.WatchError:
                        continue
        except redis.RedisError as error:
            raise StoreUnavailable(f"redis: {error}") from error

    def read(self, card_id: str) -> dict[str, float] | None:
        key = self._key(card_id)
        try:
            stored = self.client.hgetall(key)
        except redis.RedisError as error:
            raise StoreUnavailable(f"redis: {error}") from error
        values = {k[len(FEATURE):]: float(v) for k, v in stored.items() if k.startswith(FEATURE)}
        return values or None

    def close(self) -> None:
        self.client.close()
        self.client.connection_pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

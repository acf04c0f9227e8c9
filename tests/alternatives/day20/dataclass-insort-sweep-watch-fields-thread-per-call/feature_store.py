"""Task 2, written with WATCH/MULTI optimistic transactions and one hash field per feature."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

TS_FIELD = "meta:event_ts"
FEATURE = "f:"


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _is_finite_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, value in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _is_finite_real(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number")
        self._ttl_ms = math.ceil(ttl_s * 1000)
        self._prefix = prefix
        pool = redis.ConnectionPool.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                             decode_responses=True, retry=Retry(NoBackoff(), 0))
        self._redis = redis.Redis(connection_pool=pool)

    def _key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return self._prefix + card_id

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        if not all(isinstance(n, str) and _is_finite_real(v) for n, v in features.items()):
            raise ValueError("features must map str names to finite numbers")
        if not _is_finite_real(event_ts):
            raise ValueError("event_ts must be a finite number")
        ts = float(event_ts)
        fields = {FEATURE + n: repr(float(v)) for n, v in features.items()}
        fields[TS_FIELD] = repr(ts)
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
                        continue
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error

    def read(self, card_id: str) -> dict[str, float] | None:
        key = self._key(card_id)
        try:
            stored = self._redis.hgetall(key)
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error
        if not stored:
            return None
        return {n[len(FEATURE):]: float(v) for n, v in stored.items() if n.startswith(FEATURE)}

    def close(self) -> None:
        self._redis.close()
        self._redis.connection_pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Task 2: online feature store, WATCH/MULTI optimistic transactions on a Redis hash.

Layout: one hash per card, `<prefix>card:<id>`, with the field `ts` holding the event time
and one field `f:<name>` per feature (the `f:` keeps any feature name apart from `ts`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

TS_FIELD = "ts"
FEATURE = "f:"


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _finite(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and not isinstance(value, str) and math.isfinite(value))


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        if not (_finite(ttl_s) and ttl_s > 0):
            raise ValueError(f"ttl_s={ttl_s!r}")
        if not (_finite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s={timeout_s!r}")
        self.ttl_ms = max(1, round(ttl_s * 1000))
        self.prefix = prefix
        pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            decode_responses=True, retry=Retry(NoBackoff(), 0))
        self._redis = redis.Redis(connection_pool=pool)

    def _key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return self.prefix + "card:" + card_id

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        if any(not isinstance(name, str) or not _finite(value) for name, value in features.items()):
            raise ValueError("features must map str names to finite numbers")
        if not _finite(event_ts):
            raise ValueError("event_ts must be a finite number")
        ts = float(event_ts)
        fields = {FEATURE + name: repr(float(value)) for name, value in features.items()}
        fields[TS_FIELD] = repr(ts)
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
                        pipe.hset(key, mapping=fields)
                        pipe.pexpire(key, self.ttl_ms)
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
        return {name[len(FEATURE):]: float(value) for name, value in stored.items() if name != TS_FIELD}

    def close(self) -> None:
        self._redis.close()
        self._redis.connection_pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Task 2: online feature store on Redis, one JSON string per card, compare-and-set with WATCH/MULTI."""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        if not (_is_number(ttl_s) and ttl_s > 0):
            raise ValueError("ttl_s must be a positive finite number")
        if not (_is_number(timeout_s) and timeout_s > 0):
            raise ValueError("timeout_s must be a positive finite number")
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._prefix = prefix
        pool = redis.ConnectionPool.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                             retry=Retry(NoBackoff(), 0))
        self._redis = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))

    def _key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return self._prefix + card_id

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        if not all(isinstance(k, str) and _is_number(v) for k, v in features.items()):
            raise ValueError("feature names are str, values finite numbers")
        if not _is_number(event_ts):
            raise ValueError("event_ts must be a finite number")
        ts = float(event_ts)
        record = json.dumps({"ts": ts, "features": {k: float(v) for k, v in features.items()}})
        try:
            with self._redis.pipeline() as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        stored = pipe.get(key)
                        if stored is not None and ts < json.loads(stored)["ts"]:
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        pipe.set(key, record, px=self._ttl_ms)
                        pipe.execute()
                        return True
                    except redis.WatchError:
                        continue
        except redis.RedisError as error:
            raise StoreUnavailable(repr(error)) from error

    def read(self, card_id: str) -> dict[str, float] | None:
        key = self._key(card_id)
        try:
            stored = self._redis.get(key)
        except redis.RedisError as error:
            raise StoreUnavailable(repr(error)) from error
        if stored is None:
            return None
        return {k: float(v) for k, v in json.loads(stored)["features"].items()}

    def close(self) -> None:
        self._redis.close()
        self._redis.connection_pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Task 2: WATCH/MULTI compare-and-set, one hash field per feature (f:<name>), the time in field 'ts'."""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _finite_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return math.isfinite(value)


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        if not _finite_number(ttl_s) or ttl_s <= 0:
            raise ValueError("ttl_s")
        if not _finite_number(timeout_s) or timeout_s <= 0:
            raise ValueError("timeout_s")
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
        fields = {}
        for name, value in features.items():
            if not isinstance(name, str) or not _finite_number(value):
                raise ValueError(f"bad feature {name!r}: {value!r}")
            fields["f:" + name] = repr(float(value))
        if not _finite_number(event_ts):
            raise ValueError("event_ts must be a finite number")
        ts = float(event_ts)
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        raw = pipe.hget(key, "ts")
                        stored = None if raw is None else float(raw)
                        if stored is not None and ts < stored:
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        pipe.delete(key)
                        pipe.hset(key, mapping={"ts": repr(ts), **fields})
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
        return {name.decode()[2:]: float(value) for name, value in stored.items() if name.startswith(b"f:")}

    def close(self) -> None:
        self._redis.close()
        self._redis.connection_pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

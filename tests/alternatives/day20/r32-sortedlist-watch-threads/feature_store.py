"""Task 2, style B: a hash per card with 'ts' and one 'f:<name>' field per feature, written with
WATCH/MULTI/EXEC (retried only when another client touched the key)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _is_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            import numpy as np
        except ImportError:  # pragma: no cover
            return False
        return isinstance(value, (np.integer, np.floating)) and math.isfinite(float(value))
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        if not (_is_number(ttl_s) and ttl_s > 0):
            raise ValueError(f"ttl_s: {ttl_s!r}")
        if not (_is_number(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s: {timeout_s!r}")
        self.ttl_ms = math.ceil(ttl_s * 1000)
        self.prefix = prefix
        self.pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True,
            retry=Retry(NoBackoff(), 0))
        self.client = redis.Redis(connection_pool=self.pool, retry=Retry(NoBackoff(), 0))

    def _key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return self.prefix + card_id

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        fields = {}
        for name, value in features.items():
            if not isinstance(name, str) or not _is_number(value):
                raise ValueError(f"bad feature {name!r}: {value!r}")
            fields["f:" + name] = repr(float(value))
        if not _is_number(event_ts):
            raise ValueError(f"event_ts: {event_ts!r}")
        ts = float(event_ts)
        fields["ts"] = repr(ts)
        try:
            with self.client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        stored = pipe.hget(key, "ts")
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
            stored = self.client.hgetall(key)
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error
        features = {name[2:]: float(value) for name, value in stored.items() if name.startswith("f:")}
        return features or None

    def close(self) -> None:
        self.client.close()
        self.pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

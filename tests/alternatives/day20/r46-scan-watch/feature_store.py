"""Task 2 (style B): two keys per card in separate namespaces, compare-and-set with WATCH/MULTI/EXEC."""

from __future__ import annotations

import math
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _real(value) -> float | None:
    """The float of an int/float (NumPy included), else None; bools and strings are not numbers."""
    if isinstance(value, (bool, str, bytes)) or value is None:
        return None
    if not hasattr(value, "__float__"):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class OnlineFeatureStore:
    """The latest features of each card, in Redis, with a time to live."""

    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, value in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            number = _real(value)
            if number is None or not math.isfinite(number) or number <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        self._ttl_ms = math.ceil(float(ttl_s) * 1000)
        self._prefix = prefix
        self._pool = redis.ConnectionPool.from_url(
            url, socket_timeout=float(timeout_s), socket_connect_timeout=float(timeout_s),
            retry=Retry(NoBackoff(), 0))
        self._redis = redis.Redis(connection_pool=self._pool)

    def _keys(self, card_id: str) -> tuple[str, str]:
        return f"{self._prefix}features:{card_id}", f"{self._prefix}event_ts:{card_id}"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        encoded = {}
        for name, value in features.items():
            number = _real(value)
            if not isinstance(name, str) or number is None or not math.isfinite(number):
                raise ValueError(f"bad feature {name!r}: {value!r}")
            encoded[name] = repr(number)
        ts = _real(event_ts)
        if ts is None or not math.isfinite(ts):
            raise ValueError(f"bad event_ts {event_ts!r}")
        fkey, tkey = self._keys(card_id)
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(tkey)
                        stored = pipe.get(tkey)
                        if stored is not None and ts < float(stored):
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        pipe.delete(fkey)
                        pipe.hset(fkey, mapping=encoded)
                        pipe.pexpire(fkey, self._ttl_ms)
                        pipe.set(tkey, repr(ts), px=self._ttl_ms)
                        pipe.execute()
                        return True
                    except redis.WatchError:
                        continue  # another writer got in between: compare again
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error

    def read(self, card_id: str) -> dict[str, float] | None:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        fkey, _ = self._keys(card_id)
        try:
            stored = self._redis.hgetall(fkey)
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error
        if not stored:
            return None
        return {name.decode(): float(value) for name, value in stored.items()}

    def close(self) -> None:
        self._pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

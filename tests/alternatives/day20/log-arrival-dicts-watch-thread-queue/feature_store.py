"""Task 2: an online feature store on Redis, compare-and-set with WATCH/MULTI/EXEC."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import redis

_TS_FIELD = "__event_ts__"
_FEATURE = "f:"


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _is_finite_real(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


class OnlineFeatureStore:
    """The latest features of each card, in Redis, with a time to live."""

    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, value in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _is_finite_real(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._prefix = prefix
        self._pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True)
        self._client = redis.Redis(connection_pool=self._pool, retry=None)

    def _key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError(f"card_id must be a str, got {type(card_id).__name__}")
        return self._prefix + card_id

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        if not all(isinstance(k, str) and _is_finite_real(v) for k, v in features.items()):
            raise ValueError("every feature must be a str name with a finite number")
        if not _is_finite_real(event_ts):
            raise ValueError("event_ts must be a finite number")
        ts = float(event_ts)
        mapping = {_FEATURE + k: repr(float(v)) for k, v in features.items()}
        mapping[_TS_FIELD] = repr(ts)
        try:
            with self._client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        stored = pipe.hget(key, _TS_FIELD)
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
            raise StoreUnavailable(str(error)) from error

    def read(self, card_id: str) -> dict[str, float] | None:
        key = self._key(card_id)
        try:
            stored = self._client.hgetall(key)
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error
        features = {k[len(_FEATURE):]: float(v) for k, v in stored.items() if k.startswith(_FEATURE)}
        return features or None

    def close(self) -> None:
        self._client.close()
        self._pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

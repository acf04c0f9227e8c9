"""Task 2: online feature store on Redis (WATCH/MULTI optimistic transaction, one hash per card)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.exceptions import WatchError
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


TS_FIELD = "t"          # the store's own field; every feature field starts with "f:"
FEATURE = "f:"


def _finite(value, what) -> float:
    if isinstance(value, (bool, str, bytes)) or value is None or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a finite number, not {value!r}")
    try:
        x = float(value)
    except OverflowError:
        raise ValueError(f"{what} is too large") from None
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"{what} must be finite")
    return x


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        ttl = _finite(ttl_s, "ttl_s")
        timeout = _finite(timeout_s, "timeout_s")
        if ttl <= 0 or timeout <= 0:
            raise ValueError("ttl_s and timeout_s must be positive")
        self._ttl_ms = math.ceil(ttl * 1000)
        self._prefix = prefix
        pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0), retry_on_timeout=False)
        self._redis = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))

    def _key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return f"{self._prefix}card:{card_id}"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        fields = {}
        for name, value in features.items():
            if not isinstance(name, str):
                raise ValueError("feature names must be str")
            fields[FEATURE + name] = repr(_finite(value, f"feature {name!r}"))
        ts = _finite(event_ts, "event_ts")
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
                    except WatchError:
                        continue  # another writer got in between: compare again
        except redis.RedisError as e:
            raise StoreUnavailable(f"redis: {e}") from e

    def read(self, card_id: str) -> dict[str, float] | None:
        key = self._key(card_id)
        try:
            raw = self._redis.hgetall(key)
        except redis.RedisError as e:
            raise StoreUnavailable(f"redis: {e}") from e
        if not raw:
            return None
        out = {}
        for field, value in raw.items():
            field = field.decode()
            if field.startswith(FEATURE):
                out[field[len(FEATURE):]] = float(value)
        return out

    def close(self) -> None:
        self._redis.close()
        self._redis.connection_pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


_TIME = "t"          # the store's own field
_FEATURE = "f:"      # every feature field starts with this


def _real(v, what) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what}: not a number: {v!r}")
    f = float(v)
    if math.isnan(f) or math.isinf(f):
        raise ValueError(f"{what}: not finite: {v!r}")
    return f


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        self._ttl_ms = math.ceil(_positive(ttl_s, "ttl_s") * 1000)
        timeout = _positive(timeout_s, "timeout_s")
        self._prefix = prefix
        pool = redis.ConnectionPool.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                             retry=Retry(NoBackoff(), 0))
        self._redis = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))

    def _key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return f"{self._prefix}features:{card_id}"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        mapping = {}
        for name, value in features.items():
            if not isinstance(name, str):
                raise ValueError("feature names are str")
            mapping[_FEATURE + name] = repr(_real(value, name))
        ts = _real(event_ts, "event_ts")
        mapping[_TIME] = repr(ts)
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        stored = pipe.hget(key, _TIME)
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
            fields = self._redis.hgetall(key)
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error
        if not fields:
            return None
        n = len(_FEATURE)
        return {k.decode()[n:]: float(v) for k, v in fields.items() if k.startswith(_FEATURE.encode())}

    def close(self) -> None:
        self._redis.close()
        self._redis.connection_pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _positive(v, what) -> float:
    f = _real(v, what)
    if f <= 0:
        raise ValueError(f"{what} must be positive")
    return f

"""Task 2 (style: WATCH/MULTI optimistic transaction, one hash field per feature, hex timestamps)."""
from __future__ import annotations

import math
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


_TS = "m:event_ts"


def _is_num(x) -> bool:
    if isinstance(x, (bool, str, bytes)) or x is None:
        return False
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, v in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _is_num(v) or not v > 0:
                raise ValueError(f"{name} must be a positive finite number")
        self._ttl_ms = int(round(ttl_s * 1000))
        self._prefix = prefix
        self._r = redis.Redis.from_url(url, socket_timeout=timeout_s,
                                       socket_connect_timeout=timeout_s,
                                       retry=Retry(NoBackoff(), 0), decode_responses=True)

    def _key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return f"{self._prefix}h:{card_id}"

    def write(self, card_id: str, features: Mapping[str, float], *, event_ts: float) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        if not all(isinstance(n, str) for n in features):
            raise ValueError("feature names must be str")
        if not all(_is_num(v) for v in features.values()):
            raise ValueError("feature values must be finite numbers")
        if not _is_num(event_ts):
            raise ValueError("event_ts must be a finite number")
        ts = float(event_ts)
        fields = {"f:" + n: float(v).hex() for n, v in features.items()}
        fields[_TS] = ts.hex()
        try:
            with self._r.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        stored = pipe.hget(key, _TS)
                        if stored is not None and ts < float.fromhex(stored):
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
        except redis.RedisError as e:
            raise StoreUnavailable(repr(e)) from e

    def read(self, card_id: str) -> dict[str, float] | None:
        key = self._key(card_id)
        try:
            h = self._r.hgetall(key)
        except redis.RedisError as e:
            raise StoreUnavailable(repr(e)) from e
        feats = {k[2:]: float.fromhex(v) for k, v in h.items() if k.startswith("f:")}
        return feats or None

    def close(self) -> None:
        self._r.connection_pool.disconnect()
        self._r.close()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

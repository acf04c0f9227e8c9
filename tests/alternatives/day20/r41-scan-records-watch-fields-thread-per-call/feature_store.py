"""Task 2: online feature store on Redis, compare-and-set with WATCH/MULTI/EXEC.

One hash per card: field 'ts' holds the event time, every feature is a field 'f:<name>'."""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, value in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _is_number(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        self.ttl_ms = max(1, int(round(float(ttl_s) * 1000)))
        self.prefix = prefix
        pool = redis.ConnectionPool.from_url(
            url, socket_timeout=float(timeout_s), socket_connect_timeout=float(timeout_s),
            retry=Retry(NoBackoff(), 0), decode_responses=True)
        self.redis = redis.Redis(connection_pool=pool)

    def _key(self, card_id) -> str:
        if not isinstance(card_id, str):
            raise ValueError(f"card_id must be a str, got {card_id!r}")
        return f"{self.prefix}{card_id}"

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
            raise ValueError(f"event_ts must be a finite number, got {event_ts!r}")
        ts = float(event_ts)
        fields["ts"] = repr(ts)
        try:
            with self.redis.pipeline() as pipe:
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
                        continue  # another writer got in between: compare again
        except (redis.RedisError, OSError) as error:
            raise StoreUnavailable(str(error)) from error

    def read(self, card_id: str) -> dict[str, float] | None:
        key = self._key(card_id)
        try:
            stored = self.redis.hgetall(key)
        except (redis.RedisError, OSError) as error:
            raise StoreUnavailable(str(error)) from error
        if not stored:
            return None
        return {name[2:]: float(value) for name, value in stored.items() if name.startswith("f:")}

    def close(self) -> None:
        self.redis.close()
        self.redis.connection_pool.disconnect()

    def __enter__(self) -> "OnlineFeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

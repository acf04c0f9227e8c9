from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


TS_FIELD = "meta:event_ts"
FEATURE = "f:"


def _is_finite_number(x) -> bool:
    return not isinstance(x, bool) and isinstance(x, Real) and math.isfinite(x)


class OnlineFeatureStore:
    """Hash per card: own field `meta:event_ts`, each feature under `f:<name>`; WATCH/MULTI for the compare."""

    def __init__(self, url, *, ttl_s=3600.0, timeout_s=0.1, prefix="fraud:"):
        for name, v in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _is_finite_number(v) or v <= 0:
                raise ValueError(f"{name} must be a positive finite number")
        self.ttl_ms = math.ceil(ttl_s * 1000)
        self.prefix = prefix
        self.redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )

    def _key(self, card_id):
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return f"{self.prefix}{card_id}"

    def write(self, card_id, features, *, event_ts):
        key = self._key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        fields = {}
        for name, value in features.items():
            if not isinstance(name, str) or not _is_finite_number(value):
                raise ValueError(f"bad feature {name!r}: {value!r}")
            fields[FEATURE + name] = repr(float(value))
        if not _is_finite_number(event_ts):
            raise ValueError("event_ts must be a finite number")
        ts = float(event_ts)
        fields[TS_FIELD] = repr(ts)
        try:
            with self.redis.pipeline() as pipe:
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
        except redis.RedisError as e:
            raise StoreUnavailable(repr(e)) from e

    def read(self, card_id):
        key = self._key(card_id)
        try:
            data = self.redis.hgetall(key)
        except redis.RedisError as e:
            raise StoreUnavailable(repr(e)) from e
        if not data:
            return None
        return {k[len(FEATURE):]: float(v) for k, v in data.items() if k.startswith(FEATURE)}

    def close(self):
        self.redis.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

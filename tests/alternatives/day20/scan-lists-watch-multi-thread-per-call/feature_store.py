"""Online store: one Redis hash per card (a field per feature) plus a key holding its event time,
updated with an optimistic WATCH/MULTI transaction, retried when another writer got there first."""

import math
import numbers
from collections.abc import Mapping

import redis


class StoreUnavailable(Exception):
    pass


def _check_seconds(name, value):
    if type(value) not in (int, float) or not (0 < value < math.inf):
        raise ValueError(f"{name} must be a positive finite number")


class OnlineFeatureStore:
    def __init__(self, url, *, ttl_s=3600.0, timeout_s=0.1, prefix="fraud:"):
        _check_seconds("ttl_s", ttl_s)
        _check_seconds("timeout_s", timeout_s)
        self.ttl_ms = max(1, math.ceil(ttl_s * 1000))
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    def _keys(self, card_id):
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return f"{self.prefix}{card_id}:features", f"{self.prefix}{card_id}:ts"

    def write(self, card_id, features, *, event_ts):
        feats_key, ts_key = self._keys(card_id)
        if not isinstance(features, Mapping) or not features:
            raise ValueError("features must be a non-empty mapping")
        for name, value in features.items():
            if not isinstance(name, str):
                raise ValueError(f"feature names must be str, got {name!r}")
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"feature {name} is not a finite number: {value!r}")
        if isinstance(event_ts, bool) or not isinstance(event_ts, (int, float)) or not math.isfinite(event_ts):
            raise ValueError("event_ts must be finite")
        try:
            with self.client.pipeline() as pipe:
                while True:
                    try:
                        pipe.watch(ts_key, feats_key)
                        stored = pipe.get(ts_key)
                        if stored is not None and event_ts < float(stored):
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        pipe.delete(feats_key)
                        pipe.hset(feats_key, mapping={k: repr(float(v)) for k, v in features.items()})
                        pipe.set(ts_key, repr(float(event_ts)), px=self.ttl_ms)
                        pipe.pexpire(feats_key, self.ttl_ms)
                        pipe.execute()
                        return True
                    except redis.WatchError:
                        continue
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error

    def read(self, card_id):
        feats_key, _ = self._keys(card_id)
        try:
            raw = self.client.hgetall(feats_key)
        except redis.RedisError as error:
            raise StoreUnavailable(str(error)) from error
        if not raw:
            return None
        return {k.decode(): float(v) for k, v in raw.items()}

    def close(self):
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

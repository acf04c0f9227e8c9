"""Features as separate hash fields; compare-and-set with WATCH/MULTI."""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    pass


def _is_finite_number(x) -> bool:
    return (isinstance(x, numbers.Real) and not isinstance(x, bool)
            and math.isfinite(float(x)))


TS_FIELD = "meta:ts"


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        if not (_is_finite_number(ttl_s) and ttl_s > 0):
            raise ValueError("ttl_s")
        if not (_is_finite_number(timeout_s) and timeout_s > 0):
            raise ValueError("timeout_s")
        self.ttl_ms = int(round(ttl_s * 1000)) or 1
        self.prefix = prefix
        pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0))
        self.r = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))

    def write(self, card_id, features, *, event_ts) -> bool:
        if not isinstance(card_id, str):
            raise ValueError("card_id")
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features")
        fields = {}
        for name, value in features.items():
            if not isinstance(name, str) or not _is_finite_number(value):
                raise ValueError(f"feature {name!r}")
            fields["f:" + name] = repr(float(value))
        if not _is_finite_number(event_ts):
            raise ValueError("event_ts")
        ts = float(event_ts)
        fields[TS_FIELD] = repr(ts)
        key = self.prefix + card_id
        try:
            with self.r.pipeline() as pipe:
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
        if not isinstance(card_id, str):
            raise ValueError("card_id")
        try:
            got = self.r.hgetall(self.prefix + card_id)
        except redis.RedisError as e:
            raise StoreUnavailable(repr(e)) from e
        if not got:
            return None
        return {k.decode()[2:]: float(v) for k, v in got.items() if k.startswith(b"f:")}

    def close(self) -> None:
        self.r.close()
        self.r.connection_pool.disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

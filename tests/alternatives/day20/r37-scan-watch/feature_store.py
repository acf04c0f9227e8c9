"""Online feature store: a hash per card (`ts` plus `f:<name>` fields), written under
WATCH/MULTI so that a stale writer never lands."""

from __future__ import annotations

import math
from collections.abc import Mapping

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, WatchError
from redis.retry import Retry


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time; the caller degrades."""


def _number(value) -> bool:
    if isinstance(value, (bool, str, bytes)) or value is None:
        return False
    try:
        return math.isfinite(value)
    except TypeError:
        return False


class OnlineFeatureStore:
    def __init__(self, url: str, *, ttl_s: float = 3600.0, timeout_s: float = 0.1,
                 prefix: str = "fraud:") -> None:
        for name, value in (("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if not _number(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number")
        self.ttl_ms = int(round(ttl_s * 1000)) or 1
        self.prefix = prefix
        no_retry = Retry(NoBackoff(), 0)
        self.pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            decode_responses=True, retry=no_retry)
        self.client = redis.Redis(connection_pool=self.pool, retry=Retry(NoBackoff(), 0))

    def _key(self, card_id) -> str:
        if type(card_id) is not str and not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        return self.prefix + "c:" + card_id

    def write(self, card_id, features, *, event_ts) -> bool:
        key = self._key(card_id)
        if not isinstance(features, Mapping) or len(features) == 0:
            raise ValueError("features must be a non-empty mapping")
        fields = {}
        for name, value in features.items():
            if not isinstance(name, str) or not _number(value):
                raise ValueError(f"bad feature {name!r}: {value!r}")
            fields["f:" + name] = repr(float(value))
        if not _number(event_ts):
            raise ValueError("event_ts must be a finite number")
        ts = float(event_ts)
        fields["ts"] = repr(ts)
        try:
            with self.client.pipeline() as pipe:
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
                    except WatchError:
                        continue
        except RedisError as error:
            raise StoreUnavailable(str(error)) from error

    def read(self, card_id):
        key = self._key(card_id)
        try:
            stored = self.client.hgetall(key)
        except RedisError as error:
            raise StoreUnavailable(str(error)) from error
        if not stored:
            return None
        return {name[2:]: float(value) for name, value in stored.items() if name.startswith("f:")}

    def close(self) -> None:
        self.pool.disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

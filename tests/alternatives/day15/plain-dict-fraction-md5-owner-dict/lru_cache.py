"""LRU cache on an OrderedDict: insertion order is recency (pop and re-insert on use).

Not a plain dict: its first key is found by stepping over every slot deleted at its front since it
last resized, so `next(iter(d))` after many evictions is a scan."""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal

_MISSING = object()


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if (isinstance(capacity, Decimal) and capacity.is_nan()) or not capacity >= 1:  # NaN too
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._data = OrderedDict()

    def get(self, key):
        value = self._data.pop(key, _MISSING)
        if value is _MISSING:
            return None
        self._data[key] = value
        return value

    def put(self, key, value) -> None:
        self._data.pop(key, None)
        self._data[key] = value
        if len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key) -> bool:
        return key in self._data

"""LRU cache on a plain dict: insertion order is recency (pop and re-insert on use)."""

from __future__ import annotations

_MISSING = object()


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if not capacity >= 1:  # NaN too
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._data = {}

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
            del self._data[next(iter(self._data))]

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key) -> bool:
        return key in self._data

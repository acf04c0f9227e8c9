"""Mutant: keeps recency in a list and searches it on every operation (O(n), not O(1)).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._values: dict[Hashable, Any] = {}
        self._order: list[Hashable] = []

    def _touch(self, key: Hashable) -> None:
        if key in self._order:
            self._order.remove(key)
        self._order.append(key)

    def get(self, key: Hashable) -> Any | None:
        if key not in self._values:
            return None
        self._touch(key)
        return self._values[key]

    def put(self, key: Hashable, value: Any) -> None:
        self._values[key] = value
        self._touch(key)
        if len(self._order) > self.capacity:
            del self._values[self._order.pop(0)]

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._values

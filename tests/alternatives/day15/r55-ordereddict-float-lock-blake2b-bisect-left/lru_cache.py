"""LRU cache on an OrderedDict."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from decimal import Decimal
from typing import Any


def _limit(capacity):
    if isinstance(capacity, (str, bytes)):
        raise TypeError(f"capacity must be a number, not {type(capacity).__name__}")
    if isinstance(capacity, Decimal) and capacity.is_nan():
        raise ValueError("capacity is NaN")
    if capacity != capacity:  # NaN of any type
        raise ValueError("capacity is NaN")
    if not capacity >= 1:
        raise ValueError(f"capacity must be at least 1, got {capacity!r}")
    if capacity == math.inf:
        return None  # never evicts
    return math.floor(capacity) if not isinstance(capacity, int) else int(capacity)


class LRUCache:
    def __init__(self, capacity: int) -> None:
        self._limit = _limit(capacity)
        self._data: OrderedDict = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        data = self._data
        if key not in data:
            return None
        data.move_to_end(key)
        return data[key]

    def put(self, key: Hashable, value: Any) -> None:
        data = self._data
        data[key] = value
        data.move_to_end(key)
        if self._limit is not None and len(data) > self._limit:
            data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

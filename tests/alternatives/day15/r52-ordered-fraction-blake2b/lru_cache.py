"""LRU cache on an OrderedDict."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any
import operator


def _limit(capacity):
    if isinstance(capacity, (str, bytes, bytearray)):
        raise TypeError(f"capacity must be a number, not {type(capacity).__name__}")
    try:
        value = operator.index(capacity)  # int, bool, numpy integers
    except TypeError:
        value = None
    if value is not None:
        if value < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity!r}")
        return value
    if capacity != capacity:  # NaN of any type
        raise ValueError("capacity must not be NaN")
    if not capacity >= 1:
        raise ValueError(f"capacity must be at least 1, got {capacity!r}")
    if capacity == math.inf:
        return math.inf
    return math.floor(capacity)


class LRUCache:
    def __init__(self, capacity: int) -> None:
        self._capacity = _limit(capacity)
        self._data: OrderedDict = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        try:
            self._data.move_to_end(key)
        except KeyError:
            return None
        return self._data[key]

    def put(self, key: Hashable, value: Any) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self._capacity:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

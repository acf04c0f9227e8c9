"""LRU cache on an OrderedDict."""
from __future__ import annotations

import decimal
import math
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, (str, bytes)):
            raise TypeError(f"capacity must be a number, not {type(capacity).__name__}")
        try:
            big_enough = capacity >= 1  # False for NaN of any type
        except decimal.InvalidOperation:  # a Decimal NaN refuses to be ordered
            big_enough = False
        if not big_enough:
            raise ValueError(f"capacity must be at least 1, got {capacity!r}")
        try:
            self._capacity = int(capacity)  # rounds down for positive numbers
        except OverflowError:
            self._capacity = math.inf
        self._data: OrderedDict = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        try:
            value = self._data[key]
        except KeyError:
            return None
        self._data.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        data = self._data
        data[key] = value
        data.move_to_end(key)
        if len(data) > self._capacity:
            data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

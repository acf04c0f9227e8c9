"""LRU cache on an OrderedDict."""

from __future__ import annotations

import math
import operator
from collections import OrderedDict
from collections.abc import Hashable
from decimal import Decimal
from fractions import Fraction
from typing import Any


def _limit(capacity: Any) -> float | int:
    if isinstance(capacity, (str, bytes, bytearray)):
        raise TypeError(f"capacity must be a number, not {type(capacity).__name__}")
    if isinstance(capacity, Decimal):
        if capacity.is_nan():
            raise ValueError("capacity is NaN")
        if capacity.is_infinite():
            value: Any = math.inf if capacity > 0 else -math.inf
        else:
            value = math.floor(capacity)
    elif isinstance(capacity, Fraction):
        value = math.floor(capacity)
    else:
        try:
            value = operator.index(capacity)  # int, bool, NumPy integers
        except TypeError:
            try:
                f = float(capacity)  # float and every NumPy float
            except (TypeError, ValueError):
                raise TypeError(f"capacity must be a number, not {type(capacity).__name__}") from None
            if math.isnan(f):
                raise ValueError("capacity is NaN")
            value = f if math.isinf(f) else math.floor(f)
    if value < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity!r}")
    return value


class LRUCache:
    def __init__(self, capacity: int) -> None:
        self._capacity = _limit(capacity)
        self._data: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        try:
            self._data.move_to_end(key)
        except KeyError:
            return None
        return self._data[key]

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

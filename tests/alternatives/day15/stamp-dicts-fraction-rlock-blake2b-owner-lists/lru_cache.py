"""LRU cache as two dicts and a use counter.

`_entries` maps key -> [stamp, value]; `_by_stamp` (an OrderedDict) maps stamp -> key. Every use
takes a fresh, larger stamp and re-inserts it, so `_by_stamp` iterates oldest use first: its first
key is the least recently used entry, popped in O(1) with `popitem(last=False)` (a plain dict's
`next(iter(d))` would step over every slot deleted at its front).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from itertools import count
from typing import Any


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if capacity != capacity or not capacity >= 1:  # != is NaN's own test and never raises, not even for a Decimal
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._entries: dict[Hashable, list] = {}
        self._by_stamp: OrderedDict[int, Hashable] = OrderedDict()
        self._stamps = count()

    def _touch(self, key: Hashable, entry: list) -> None:
        del self._by_stamp[entry[0]]
        entry[0] = next(self._stamps)
        self._by_stamp[entry[0]] = key

    def get(self, key: Hashable) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._touch(key, entry)
        return entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            entry[1] = value
            self._touch(key, entry)
            return
        stamp = next(self._stamps)
        self._entries[key] = [stamp, value]
        self._by_stamp[stamp] = key
        if len(self._entries) > self._capacity:
            _, oldest_key = self._by_stamp.popitem(last=False)
            del self._entries[oldest_key]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

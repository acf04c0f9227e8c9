"""Task 1: a least-recently-used cache, the thing in front of every feature store and model.

Contract (the tests check exactly this):
- `LRUCache(capacity)`; a capacity below 1, or NaN, raises ValueError; any other whole
  number is a capacity, a NumPy integer (`numpy.int64(2)`) or a float such as 2.0 too.
  A capacity that is not whole is rounded down (2.5 and 2.9 keep 2); a Decimal or Fraction is the number it holds.
- `get(key)` returns the value or None, and makes the key the most recently used.
- `put(key, value)` inserts or updates, makes the key the most recently used, and
  evicts the least recently used key when the cache grows past its capacity.
- `len(cache)` counts entries; `key in cache` answers without touching recency.
- Every operation is O(1), `in` and eviction too: no scanning or copying of all keys
  (not even inside a builtin such as `min()`).
- Memory follows the entries, not the capacity; an evicted value is released (nothing keeps it).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any


class LRUCache:
    def __init__(self, capacity: int) -> None:
        # TODO(task 1): reject a capacity below 1 (and NaN), then set up your storage.
        raise NotImplementedError("task 1")

    def get(self, key: Hashable) -> Any | None:
        # TODO(task 1): return the value (or None) and refresh the key's recency.
        raise NotImplementedError("task 1")

    def put(self, key: Hashable, value: Any) -> None:
        # TODO(task 1): insert or update, refresh recency, evict the least recently used.
        raise NotImplementedError("task 1")

    def __len__(self) -> int:
        # TODO(task 1): how many entries are stored.
        raise NotImplementedError("task 1")

    def __contains__(self, key: Hashable) -> bool:
        # TODO(task 1): membership, without refreshing recency.
        raise NotImplementedError("task 1")

"""Task 3: a consistent-hash ring, how a feature cache or model shard picks its server.

Contract (the tests check exactly this):
- `ConsistentHashRing(nodes=(), vnodes=100)`: each node gets `vnodes` points on the ring.
  `nodes` may be any iterable (a generator too). Keys past the last point wrap to the first.
- `add_node(node)` (already present: ValueError) places the ring's `vnodes` points too;
  `remove_node(node)` (absent: KeyError); a refused call leaves the ring as it was.
- `get_node(key)` returns the node that owns `key`; an empty ring raises LookupError.
- `nodes` is the set of node names, a copy (safe to loop over while adding or removing nodes).
- Placement is the same in every process: do not use the built-in `hash()`. Positions are wide
  enough (64 bits is usual) that points of different nodes practically never share one.
  Names and keys are any text (Unicode too, a lone surrogate such as '\\udcff' too): hash every
  character as it is (`encode("utf-8", "surrogatepass")` keeps them all; no lower(), strip()
  or other normalising, and no length cap on keys).
- Adding a node moves keys only onto it; removing one moves only its own keys.
"""

from __future__ import annotations

from collections.abc import Iterable


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        # TODO(task 3): set up the ring and add the initial nodes.
        raise NotImplementedError("task 3")

    @property
    def nodes(self) -> set[str]:
        # TODO(task 3): the node names on the ring.
        raise NotImplementedError("task 3")

    def add_node(self, node: str) -> None:
        # TODO(task 3): put `vnodes` points for `node` on the ring.
        raise NotImplementedError("task 3")

    def remove_node(self, node: str) -> None:
        # TODO(task 3): take the node's points off the ring.
        raise NotImplementedError("task 3")

    def get_node(self, key: str) -> str:
        # TODO(task 3): the owner of the first point at or after the key's position.
        raise NotImplementedError("task 3")

"""sha256 positions, parallel sorted lists, node -> positions index for removal."""
import hashlib
from bisect import bisect_left, insort


class ConsistentHashRing:
    def __init__(self, nodes=(), vnodes=100):
        self._vnodes = vnodes
        self._keys = []
        self._owner = {}
        self._points_of = {}
        for node in nodes:
            self.add_node(node)

    @staticmethod
    def _hash(text):
        return int(hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), 16)

    @property
    def nodes(self):
        return set(self._points_of)

    def add_node(self, node):
        if node in self._points_of:
            raise ValueError(f"node {node} already present")
        points = []
        for i in range(self._vnodes):
            h = self._hash(f"{node}-vnode-{i}")
            if h in self._owner:
                continue
            self._owner[h] = node
            insort(self._keys, h)
            points.append(h)
        self._points_of[node] = points

    def remove_node(self, node):
        points = self._points_of.pop(node)
        for h in points:
            del self._owner[h]
            self._keys.pop(bisect_left(self._keys, h))

    def get_node(self, key):
        if not self._keys:
            raise LookupError("no nodes")
        i = bisect_left(self._keys, self._hash(key))
        if i == len(self._keys):
            i = 0
        return self._owner[self._keys[i]]

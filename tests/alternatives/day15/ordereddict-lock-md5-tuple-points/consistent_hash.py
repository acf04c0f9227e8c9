import bisect
import hashlib


def _pos(text):
    return int.from_bytes(hashlib.md5(text.encode("utf-8", "surrogatepass")).digest()[:8], "big")


class ConsistentHashRing:
    def __init__(self, nodes=(), vnodes=100):
        self.vnodes = vnodes
        self._points = []  # sorted (position, node)
        self._nodes = set()
        for n in nodes:
            self.add_node(n)

    @property
    def nodes(self):
        return set(self._nodes)

    def add_node(self, node):
        if node in self._nodes:
            raise ValueError(f"{node!r} already on the ring")
        self._nodes.add(node)
        for i in range(self.vnodes):
            bisect.insort(self._points, (_pos(f"{node}#{i}"), node))

    def remove_node(self, node):
        if node not in self._nodes:
            raise KeyError(node)
        self._nodes.remove(node)
        self._points = [p for p in self._points if p[1] != node]

    def get_node(self, key):
        if not self._points:
            raise LookupError("empty ring")
        i = bisect.bisect_left(self._points, (_pos(key),))
        return self._points[i % len(self._points)][1]

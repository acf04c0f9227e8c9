"""Hash map of key -> node in a doubly linked list with sentinels."""


class _Node:
    __slots__ = ("key", "value", "prev", "next")

    def __init__(self, key=None, value=None):
        self.key, self.value = key, value
        self.prev = self.next = None


def _at_least_one(number) -> bool:
    """False for anything below 1 and for NaN of every type (a Decimal NaN raises on >=)."""
    try:
        return number >= 1
    except ArithmeticError:
        return False


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if not _at_least_one(capacity):
            raise ValueError("capacity below 1")
        self._cap = capacity
        self._map = {}
        self._head = _Node()  # most recent after head
        self._tail = _Node()  # least recent before tail
        self._head.next, self._tail.prev = self._tail, self._head

    def _unlink(self, node):
        node.prev.next, node.next.prev = node.next, node.prev

    def _push_front(self, node):
        node.prev, node.next = self._head, self._head.next
        self._head.next.prev = node
        self._head.next = node

    def get(self, key):
        node = self._map.get(key)
        if node is None:
            return None
        self._unlink(node)
        self._push_front(node)
        return node.value

    def put(self, key, value):
        node = self._map.get(key)
        if node is not None:
            node.value = value
            self._unlink(node)
        else:
            node = _Node(key, value)
            self._map[key] = node
        self._push_front(node)
        if len(self._map) > self._cap:
            old = self._tail.prev
            self._unlink(old)
            del self._map[old.key]

    def __len__(self):
        return len(self._map)

    def __contains__(self, key):
        return key in self._map

from collections import OrderedDict


class LRUCache:
    def __init__(self, capacity):
        try:
            too_small = not capacity >= 1
        except ArithmeticError:  # Decimal('NaN') >= 1 raises InvalidOperation
            too_small = True
        if too_small:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._data = OrderedDict()

    def get(self, key):
        if key not in self._data:
            return None
        self._data.move_to_end(key)
        return self._data[key]

    def put(self, key, value):
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def __len__(self):
        return len(self._data)

    def __contains__(self, key):
        return key in self._data

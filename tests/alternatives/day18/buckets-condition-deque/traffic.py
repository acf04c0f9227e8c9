"""Integer buckets: md5 of the salted id modulo 1,000,000, ranges in sorted-name order."""

import hashlib
import math

BUCKETS = 1_000_000


class TrafficSplitter:
    def __init__(self, weights, salt=""):
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        if not weights:
            raise ValueError("no variants")
        if any(not isinstance(w, (int, float)) or math.isnan(w) or w < 0 for w in weights.values()):
            raise ValueError(f"weights must be non-negative numbers: {weights}")
        total = sum(weights.values())
        if total <= 0 or math.isinf(total):
            raise ValueError("weights must have a positive, finite sum")
        self.salt = salt
        self.weights = dict(weights)
        self.table = []  # (upper bucket, exclusive; name)
        edge = 0.0
        for name in sorted(weights):
            edge += weights[name] / total
            self.table.append((round(edge * BUCKETS), name))

    def route(self, user_id):
        key = f"{self.salt}|{len(self.salt)}|{user_id}".encode("utf-8", "surrogatepass")
        bucket = int(hashlib.md5(key).hexdigest(), 16) % BUCKETS
        for upper, name in self.table:
            if bucket < upper:
                return name
        return next(name for upper, name in reversed(self.table) if self.weights[name] > 0)

    def with_weights(self, new_weights):
        return TrafficSplitter(new_weights, self.salt)

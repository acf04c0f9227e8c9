"""Answer B: plain Python dicts, co-occurrence counts as the similarity, computed per request."""
from __future__ import annotations

import math
import operator
from collections import defaultdict

from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._history = None

    def fit(self, interactions):
        coo = sparse.coo_array(interactions)
        n_users, n_items = coo.shape
        cells: dict[tuple[int, int], float] = defaultdict(float)
        for u, i, v in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()):
            cells[(u, i)] += float(v)
        history: dict[int, dict[int, float]] = defaultdict(dict)
        users_of: dict[int, set[int]] = defaultdict(set)
        for (u, i), v in cells.items():
            if math.isnan(v) or math.isinf(v) or v < 0:
                raise ValueError(f"bad interaction value {v!r} for user {u}, item {i}")
            if v != 0:
                history[u][i] = v
                users_of[i].add(u)
        self._n_users, self._n_items = n_users, n_items
        self._history = dict(history)
        self._users_of = dict(users_of)
        self._ranking = sorted(range(n_items), key=lambda i: (-len(users_of.get(i, ())), i))
        return self

    def _ready(self, k):
        if self._history is None:
            raise RuntimeError("the recommender is not fitted yet")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")

    def most_popular(self, k: int = 10) -> list[int]:
        self._ready(k)
        return self._ranking[:k]

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._ready(k)
        try:
            index = operator.index(user_id)
        except TypeError:
            return self.most_popular(k)
        seen = self._history.get(index) if 0 <= index < self._n_users else None
        if not seen:
            return self.most_popular(k)
        scores: dict[int, float] = defaultdict(float)
        for item, value in seen.items():
            co = defaultdict(int)
            for other_user in self._users_of[item]:
                for other_item in self._history[other_user]:
                    co[other_item] += 1
            for other_item, count in co.items():
                if other_item not in seen:
                    scores[other_item] += value * count
        ranked = sorted(scores, key=lambda i: (-scores[i], i))[:k]
        if len(ranked) < k:
            chosen = set(ranked)
            for item in self._ranking:
                if len(ranked) == k:
                    break
                if item not in seen and item not in chosen:
                    ranked.append(item)
        return ranked

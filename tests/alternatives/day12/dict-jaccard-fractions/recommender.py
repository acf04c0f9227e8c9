"""Dict-of-sets item-item recommender with Jaccard similarity, computed at request time."""
from __future__ import annotations

import math
from collections import defaultdict

from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self.fitted = False

    def fit(self, interactions):
        coo = sparse.coo_array(interactions)
        n_users, n_items = coo.shape
        cells: dict[tuple[int, int], float] = defaultdict(float)
        for r, c, v in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()):
            cells[(r, c)] += float(v)
        history: dict[int, dict[int, float]] = defaultdict(dict)
        users_of: dict[int, set[int]] = defaultdict(set)
        for (r, c), v in cells.items():
            if math.isnan(v) or math.isinf(v) or v < 0:
                raise ValueError(f"bad interaction value {v} at ({r}, {c})")
            if v == 0:
                continue
            history[r][c] = v
            users_of[c].add(r)
        self.n_users, self.n_items = n_users, n_items
        self.history, self.users_of = dict(history), dict(users_of)
        self.ranking = sorted(range(n_items), key=lambda i: (-len(users_of.get(i, ())), i))
        self.fitted = True
        return self

    def _guard(self, k):
        if not self.fitted:
            raise RuntimeError("not fitted")
        if k < 1:
            raise ValueError("k must be at least 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._guard(k)
        return list(self.ranking[:k])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._guard(k)
        seen = self.history.get(user_id) if 0 <= user_id < self.n_users else None
        if not seen:
            return self.most_popular(k)
        scores: dict[int, float] = defaultdict(float)
        for i, value in seen.items():
            ui = self.users_of[i]
            neighbours = set()
            for other in ui:
                neighbours.update(self.history[other])
            for j in neighbours:
                if j in seen:
                    continue
                uj = self.users_of[j]
                inter = len(ui & uj)
                if inter:
                    scores[j] += value * inter / len(ui | uj)
        ranked = sorted(scores, key=lambda j: (-scores[j], j))[:k]
        if len(ranked) < k:
            chosen = set(ranked)
            for item in self.ranking:
                if len(ranked) == k:
                    break
                if item not in chosen and item not in seen:
                    ranked.append(item)
        return ranked

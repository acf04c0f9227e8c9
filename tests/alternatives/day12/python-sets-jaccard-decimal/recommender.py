"""Jaccard item-item similarity from per-item user sets, in plain Python dicts."""
from __future__ import annotations

import math
import operator
from collections import defaultdict

from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self.fitted = False

    def fit(self, interactions):
        coo = sparse.coo_matrix(interactions)
        cells: dict[tuple[int, int], float] = defaultdict(float)
        for r, c, v in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()):
            v = float(v)
            if math.isnan(v) or math.isinf(v) or v < 0:
                raise ValueError(f"bad interaction value {v}")
            cells[(r, c)] += v
        n_users, n_items = coo.shape
        history: dict[int, dict[int, float]] = defaultdict(dict)
        users_of: dict[int, set[int]] = defaultdict(set)
        for (r, c), v in cells.items():
            if v != 0:
                history[r][c] = v
                users_of[c].add(r)
        self.n_users, self.n_items = n_users, n_items
        self.history = dict(history)
        self.users_of = dict(users_of)
        self.popular = sorted(range(n_items), key=lambda i: (-len(users_of.get(i, ())), i))
        self.fitted = True
        return self

    def _guard(self, k):
        if not self.fitted:
            raise RuntimeError("not fitted")
        if k < 1:
            raise ValueError("k must be at least 1")

    def most_popular(self, k=10):
        self._guard(k)
        return [int(i) for i in self.popular[:k]]

    def recommend(self, user_id, k=10):
        self._guard(k)
        try:
            u = operator.index(user_id)
        except TypeError:
            return self.most_popular(k)
        seen = self.history.get(u) if 0 <= u < self.n_users else None
        if not seen:
            return self.most_popular(k)
        scores: dict[int, float] = defaultdict(float)
        for i, value in seen.items():
            ui = self.users_of[i]
            neighbours: set[int] = set()
            for other in ui:
                neighbours.update(self.history[other])
            for j in neighbours:
                if j in seen:
                    continue
                uj = self.users_of[j]
                inter = len(ui & uj)
                scores[j] += value * inter / (len(ui) + len(uj) - inter)
        ranked = sorted((j for j, s in scores.items() if s > 0), key=lambda j: (-scores[j], j))[:k]
        if len(ranked) < k:
            chosen = set(ranked)
            for j in self.popular:
                if len(ranked) == k:
                    break
                if j not in seen and j not in chosen:
                    ranked.append(j)
        return [int(j) for j in ranked]

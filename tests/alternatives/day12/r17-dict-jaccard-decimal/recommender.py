"""Item-item collaborative filtering with dictionaries and Jaccard similarity."""

from __future__ import annotations

import operator
from collections import defaultdict

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._state = None  # (histories, neighbours, popularity, n_users, n_items)

    def fit(self, interactions) -> ItemItemRecommender:
        coo = sparse.coo_array(interactions)
        n_users, n_items = coo.shape
        cells: dict[tuple[int, int], float] = defaultdict(float)
        for r, c, v in zip(coo.row.tolist(), coo.col.tolist(), coo.data.astype(float).tolist()):
            cells[(r, c)] += v
        histories: dict[int, dict[int, float]] = {}
        item_users: dict[int, int] = defaultdict(int)
        for (r, c), v in cells.items():
            if not (v >= 0 and v != float("inf")):
                raise ValueError(f"bad interaction value {v!r} for user {r}, item {c}")
            if v == 0:
                continue
            histories.setdefault(r, {})[c] = v
            item_users[c] += 1
        together: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for items in histories.values():
            ids = list(items)
            for i in ids:
                row = together[i]
                for j in ids:
                    if i != j:
                        row[j] += 1
        neighbours = {
            i: {j: both / (item_users[i] + item_users[j] - both) for j, both in row.items()}
            for i, row in together.items()
        }
        popularity = sorted(range(n_items), key=lambda item: (-item_users.get(item, 0), item))
        self._state = (histories, neighbours, tuple(popularity), n_users, n_items)
        return self

    def _fitted(self, k):
        if self._state is None:
            raise RuntimeError("the recommender is not fitted yet")
        if k < 1:
            raise ValueError("k must be at least 1")
        return self._state

    def most_popular(self, k: int = 10) -> list[int]:
        _, _, popularity, _, _ = self._fitted(k)
        return list(popularity[:k])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        histories, neighbours, popularity, n_users, _ = self._fitted(k)
        try:
            user = operator.index(user_id)
        except TypeError:
            return self.most_popular(k)
        history = histories.get(user) if 0 <= user < n_users else None
        if not history:
            return self.most_popular(k)
        scores: dict[int, float] = defaultdict(float)
        for item, value in history.items():
            for other, similarity in neighbours.get(item, {}).items():
                if other not in history:
                    scores[other] += value * similarity
        ranked = sorted((item for item, score in scores.items() if score > 0), key=lambda j: (-scores[j], j))
        shown = ranked[:k]
        if len(shown) < k:
            chosen = set(shown)
            for item in popularity:
                if len(shown) == k:
                    break
                if item not in history and item not in chosen:
                    shown.append(item)
        return shown

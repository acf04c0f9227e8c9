"""Item-item collaborative filtering with a popularity fallback.

Plain-Python style: the event log is folded into per-user histories and per-item
co-occurrence counts (how many users two items share), kept as dictionaries.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict

from scipy import sparse


class _Model:
    def __init__(self, n_users, histories, neighbours, popular):
        self.n_users = n_users
        self.histories = histories      # user -> {item: value}
        self.neighbours = neighbours    # item -> {other item: shared users}
        self.popular = popular          # every item, most users first, ties by id


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model: _Model | None = None

    def fit(self, interactions) -> ItemItemRecommender:
        coo = sparse.coo_array(interactions)
        n_users, n_items = coo.shape
        cells: dict[tuple[int, int], float] = defaultdict(float)
        for row, col, value in zip(coo.row.tolist(), coo.col.tolist(), coo.data.astype(float).tolist()):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"interaction ({row}, {col}) = {value}: values must be finite and >= 0")
            cells[(row, col)] += value
        histories: dict[int, dict[int, float]] = defaultdict(dict)
        users_per_item = [0] * n_items
        for (row, col), value in cells.items():
            if value > 0:
                histories[row][col] = value
                users_per_item[col] += 1
        neighbours: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for history in histories.values():
            items = list(history)
            for i in items:
                row = neighbours[i]
                for j in items:
                    if j != i:
                        row[j] += 1
        popular = sorted(range(n_items), key=lambda item: (-users_per_item[item], item))
        self._model = _Model(
            n_users,
            {user: dict(history) for user, history in histories.items()},
            {item: dict(row) for item, row in neighbours.items()},
            popular,
        )
        return self

    def _ready(self, k) -> _Model:
        if self._model is None:
            raise RuntimeError("the recommender is not fitted yet")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        return self._model

    def most_popular(self, k: int = 10) -> list[int]:
        model = self._ready(k)
        return model.popular[:k]

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        model = self._ready(k)
        try:
            user = operator.index(user_id)
        except TypeError:
            return self.most_popular(k)
        history = model.histories.get(user) if 0 <= user < model.n_users else None
        if not history:
            return self.most_popular(k)
        scores: dict[int, float] = defaultdict(float)
        for item, value in history.items():
            for other, shared in model.neighbours.get(item, {}).items():
                if other not in history:
                    scores[other] += value * shared
        shown = sorted(scores, key=lambda item: (-scores[item], item))[:k]
        if len(shown) < k:
            for item in model.popular:
                if item not in history and item not in scores:
                    shown.append(item)
                    if len(shown) == k:
                        break
        return shown

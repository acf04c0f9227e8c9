"""Item-item co-occurrence with plain dicts: an inverted index, scores summed per request, heapq for top k."""

from __future__ import annotations

import heapq
import math
import operator
from collections import defaultdict

import numpy as np
from scipy import sparse


class _Model:
    def __init__(self, history, users_of, popular, n_users, n_items):
        self.history = history      # user -> {item: value}
        self.users_of = users_of    # item -> set(users)
        self.popular = popular      # items, most users first, ties to the lower id
        self.n_users = n_users
        self.n_items = n_items


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model: _Model | None = None

    def fit(self, interactions) -> ItemItemRecommender:
        coo = sparse.coo_array(interactions)
        n_users, n_items = coo.shape
        cells: dict[tuple[int, int], float] = defaultdict(float)
        for user, item, value in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()):
            cells[(user, item)] += float(value)
        history: dict[int, dict[int, float]] = defaultdict(dict)
        users_of: dict[int, set[int]] = defaultdict(set)
        for (user, item), value in cells.items():
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"interaction ({user}, {item}) has the bad value {value!r}")
            if value == 0:
                continue
            history[user][item] = value
            users_of[item].add(user)
        popular = sorted(range(n_items), key=lambda item: (-len(users_of.get(item, ())), item))
        self._model = _Model(dict(history), dict(users_of), popular, n_users, n_items)
        return self

    def _ready(self, k) -> _Model:
        if self._model is None:
            raise RuntimeError("the recommender is not fitted yet")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k!r}")
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
        seen = model.history.get(user) if 0 <= user < model.n_users else None
        if not seen:
            return self.most_popular(k)
        scores: dict[int, float] = defaultdict(float)
        for item, value in seen.items():
            # co-occurrence count of item and other, weighted by the user's value for item
            for other_user in model.users_of[item]:
                for other in model.history[other_user]:
                    scores[other] += value
        for item in seen:
            scores.pop(item, None)
        best = heapq.nsmallest(k, ((-score, item) for item, score in scores.items() if score > 0))
        result = [item for _, item in best]
        if len(result) < k:
            chosen = set(result)
            for item in model.popular:
                if len(result) >= k:
                    break
                if item not in seen and item not in chosen:
                    result.append(item)
        return result

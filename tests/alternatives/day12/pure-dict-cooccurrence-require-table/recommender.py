"""Dictionary-based item-item recommender: co-occurrence counts from an inverted index at request time."""
from __future__ import annotations

import math
import numbers
from collections import defaultdict

from scipy import sparse


class _Model:
    __slots__ = ("histories", "item_users", "ranking", "n_users", "n_items")

    def __init__(self, histories, item_users, ranking, n_users, n_items):
        self.histories = histories
        self.item_users = item_users
        self.ranking = ranking
        self.n_users = n_users
        self.n_items = n_items


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model: _Model | None = None

    def fit(self, interactions) -> ItemItemRecommender:
        coo = sparse.coo_array(interactions)
        n_users, n_items = coo.shape
        cells: dict[tuple[int, int], float] = defaultdict(float)
        for r, c, v in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()):
            v = float(v)
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"bad interaction value {v!r} at ({r}, {c})")
            cells[(r, c)] += v
        histories: dict[int, dict[int, float]] = {}
        item_users: dict[int, set[int]] = defaultdict(set)
        for (r, c), v in cells.items():
            if v == 0.0:
                continue
            histories.setdefault(r, {})[c] = v
            item_users[c].add(r)
        ranking = sorted(range(n_items), key=lambda item: (-len(item_users.get(item, ())), item))
        self._model = _Model(histories, dict(item_users), ranking, n_users, n_items)
        return self

    def _ready(self, k) -> _Model:
        if self._model is None:
            raise RuntimeError("call fit() first")
        if k < 1:
            raise ValueError("k must be at least 1")
        return self._model

    def most_popular(self, k: int = 10) -> list[int]:
        model = self._ready(k)
        return list(model.ranking[:k])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        model = self._ready(k)
        if not isinstance(user_id, numbers.Integral):
            return self.most_popular(k)
        uid = int(user_id)
        history = model.histories.get(uid) if 0 <= uid < model.n_users else None
        if not history:
            return self.most_popular(k)
        scores: dict[int, float] = defaultdict(float)
        for item, value in history.items():
            for other_user in model.item_users[item]:
                for other_item in model.histories[other_user]:
                    scores[other_item] += value
        ranked = sorted((j for j in scores if j not in history), key=lambda j: (-scores[j], j))
        out = ranked[:k]
        if len(out) < k:
            chosen = set(out)
            for item in model.ranking:
                if len(out) >= k:
                    break
                if item not in history and item not in chosen:
                    out.append(item)
        return out

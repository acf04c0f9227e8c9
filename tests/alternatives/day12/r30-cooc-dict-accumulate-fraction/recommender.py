"""Item-item recommender: co-occurrence counts as the similarity, scores accumulated per request in a dict."""

from __future__ import annotations

import operator

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self.fitted = False

    def fit(self, interactions) -> ItemItemRecommender:
        log = sparse.coo_array(interactions)
        values = sparse.coo_array(
            (log.data.astype(np.float64), (log.row.copy(), log.col.copy())), shape=log.shape
        ).tocsc()  # duplicates summed in float64, a copy of the caller's data
        if not np.isfinite(values.data).all() or (values.data < 0).any():
            raise ValueError("interactions must be finite and >= 0")
        values.eliminate_zeros()
        seen = values.copy()
        seen.data[:] = 1.0
        co_occurrence = (seen.T @ seen).tocsr()  # users shared by two items: > 0 exactly when they share one
        popularity = np.diff(seen.indptr)  # CSC: stored entries per column = distinct users
        order = sorted(range(seen.shape[1]), key=lambda item: (-int(popularity[item]), item))
        # commit only once everything is computed
        self.rows = values.tocsr()
        self.co_occurrence = co_occurrence
        self.order = order
        self.fitted = True
        return self

    def _ready(self, k) -> None:
        if not self.fitted:
            raise RuntimeError("the recommender is not fitted")
        if k < 1:
            raise ValueError("k must be >= 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._ready(k)
        return list(self.order[:k])

    def _history(self, user_id):
        try:
            user = operator.index(user_id)
        except TypeError:
            return {}
        if not 0 <= user < self.rows.shape[0]:
            return {}
        row = self.rows[[user]]
        return dict(zip(row.indices.tolist(), row.data.tolist()))

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._ready(k)
        history = self._history(user_id)
        if not history:
            return self.most_popular(k)
        sim = self.co_occurrence
        scores: dict[int, float] = {}
        for item, value in history.items():
            lo, hi = sim.indptr[item], sim.indptr[item + 1]
            for other, s in zip(sim.indices[lo:hi].tolist(), sim.data[lo:hi].tolist()):
                if other not in history:
                    scores[other] = scores.get(other, 0.0) + value * s
        ranked = sorted(scores, key=lambda item: (-scores[item], item))[:k]
        if len(ranked) < k:
            taken = set(ranked)
            for item in self.order:
                if len(ranked) >= k:
                    break
                if item not in history and item not in taken:
                    ranked.append(item)
        return ranked

"""Item-item collaborative filtering: value-weighted co-occurrence scored on demand.

No item-item matrix is stored at all: a request walks history -> users -> items with two
sparse products over the binary user x item matrix.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class _Model:
    values: sparse.csr_array      # user x item, float64 values, no stored zeros
    seen: sparse.csr_array        # user x item, 1.0 where seen
    seen_t: sparse.csr_array      # item x user, 1.0 where seen
    ranking: tuple[int, ...]      # every item, most users first, ties by id
    rank_of: np.ndarray           # item -> position in ranking


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model: _Model | None = None

    def fit(self, interactions) -> ItemItemRecommender:
        log = interactions.tocoo()
        data = np.array(log.data, dtype=np.float64)
        by_cell = sparse.coo_array((data, (np.array(log.row), np.array(log.col))), shape=log.shape).tocsc()
        by_cell.sum_duplicates()
        if by_cell.nnz and (not np.isfinite(by_cell.data).all() or by_cell.data.min() < 0):
            raise ValueError("interaction values must be finite and >= 0")
        by_cell.eliminate_zeros()
        n_items = by_cell.shape[1]
        users_per_item = np.diff(by_cell.indptr)
        ranking = tuple(sorted(range(n_items), key=lambda item: (-int(users_per_item[item]), item)))
        rank_of = np.empty(n_items, dtype=np.int64)
        rank_of[list(ranking)] = np.arange(n_items)
        values = by_cell.tocsr()
        seen = values.copy()
        seen.data = np.ones_like(seen.data)
        self._model = _Model(values, seen, seen.T.tocsr(), ranking, rank_of)
        return self

    def _ready(self, k: int) -> _Model:
        if self._model is None:
            raise RuntimeError("the recommender is not fitted yet")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        return self._model

    def most_popular(self, k: int = 10) -> list[int]:
        model = self._ready(k)
        return list(model.ranking[:k])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        model = self._ready(k)
        try:
            user = operator.index(user_id)
        except TypeError:
            return list(model.ranking[:k])
        n_users, n_items = model.values.shape
        if user < 0 or user >= n_users:
            return list(model.ranking[:k])
        row = model.values[[user]]
        if row.nnz == 0:
            return list(model.ranking[:k])
        history = np.zeros(n_items, dtype=np.float64)
        history[row.indices] = row.data
        # users who share an item with the history, weighted by the user's values
        through_users = model.seen @ history
        scores = model.seen_t @ through_users
        seen_items = set(row.indices.tolist())
        positive = [int(j) for j in np.flatnonzero(scores > 0) if int(j) not in seen_items]
        positive.sort(key=lambda j: (-scores[j], j))
        shown = positive[:k]
        if len(shown) < k:
            taken = seen_items.union(shown)
            for item in model.ranking:
                if len(shown) == k:
                    break
                if item not in taken:
                    shown.append(item)
        return shown

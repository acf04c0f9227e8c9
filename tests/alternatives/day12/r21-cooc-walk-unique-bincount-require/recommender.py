"""Item-item recommender scored on the fly from co-occurrence counts.

Nothing item-by-item is precomputed: a request walks from the user's items to the users
who share them, and back to those users' items, with two sparse products.
"""

from __future__ import annotations

import heapq
import numbers
from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class _Model:
    values: sparse.csr_array   # users x items, float values, no zeros
    seen_by: sparse.csc_array  # users x items, 1.0 where seen
    popularity: tuple[int, ...]

    @property
    def n_users(self) -> int:
        return self.values.shape[0]

    @property
    def n_items(self) -> int:
        return self.values.shape[1]


def _clean(interactions) -> sparse.csr_array:
    coo = sparse.coo_array(interactions)
    n_users, n_items = coo.shape
    rows = np.asarray(coo.row, dtype=np.int64)
    cols = np.asarray(coo.col, dtype=np.int64)
    data = np.array(coo.data, dtype=np.float64)   # a copy, in floats
    if not np.isfinite(data).all() or (data < 0).any():
        raise ValueError("interactions must be finite and >= 0")
    keys = rows * n_items + cols
    cells, where = np.unique(keys, return_inverse=True)
    totals = np.bincount(where.ravel(), weights=data, minlength=cells.size)
    keep = totals != 0
    cells, totals = cells[keep], totals[keep]
    return sparse.csr_array((totals, (cells // n_items, cells % n_items)), shape=(n_users, n_items))


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model: _Model | None = None

    def fit(self, interactions) -> ItemItemRecommender:
        values = _clean(interactions)
        seen_by = sparse.csr_array((np.ones_like(values.data), values.indices, values.indptr), shape=values.shape).tocsc()
        users = np.diff(seen_by.indptr)
        popularity = tuple(sorted(range(values.shape[1]), key=lambda item: (-int(users[item]), item)))
        self._model = _Model(values, seen_by, popularity)
        return self

    def _ready(self, k) -> _Model:
        if self._model is None:
            raise RuntimeError("the recommender is not fitted yet")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        return self._model

    def most_popular(self, k: int = 10) -> list[int]:
        model = self._ready(k)
        return list(model.popularity[:k])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        model = self._ready(k)
        if not isinstance(user_id, numbers.Integral) or not 0 <= user_id < model.n_users:
            return self.most_popular(k)
        user = int(user_id)
        row = model.values[[user], :]
        if row.nnz == 0:
            return self.most_popular(k)
        seen = set(row.indices.tolist())
        # users reached through the history, weighted by how much the user valued each item ...
        reach = model.seen_by @ row.T.toarray().ravel()
        # ... and the items those users saw: sum of value(u, i) x co-occurrence(i, j)
        scores = model.seen_by.T @ reach
        similar = [item for item in np.flatnonzero(scores > 0).tolist() if item not in seen]
        best = heapq.nsmallest(k, similar, key=lambda item: (-scores[item], item))
        chosen = set(best)
        for item in model.popularity:
            if len(best) >= k:
                break
            if item not in seen and item not in chosen:
                best.append(item)
        return best

"""Item-item collaborative filtering with a popularity fallback (cosine on a CSR matrix)."""

from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._fitted = False
        self._matrix = None
        self._similarity = None
        self._by_popularity = None
        self._n_users = 0
        self._n_items = 0

    def fit(self, interactions) -> ItemItemRecommender:
        m = sparse.coo_array(interactions).astype(np.float64).tocsr()
        m.sum_duplicates()
        if not np.all(np.isfinite(m.data)) or np.any(m.data < 0):
            raise ValueError("interaction values must be finite and non-negative")
        m.eliminate_zeros()
        m.sort_indices()
        n_users, n_items = m.shape
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        normalised = (m @ sparse.diags_array(inverse)).tocsc()
        similarity = (normalised.T @ normalised).tocsr()
        self._matrix = m
        self._similarity = similarity
        self._by_popularity = by_popularity
        self._n_users, self._n_items = n_users, n_items
        self._fitted = True
        return self

    def _check(self, k: int) -> None:
        if not self._fitted:
            raise RuntimeError("fit() the recommender first")
        if k < 1:
            raise ValueError("k must be at least 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._check(k)
        return self._by_popularity[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._check(k)
        if not isinstance(user_id, numbers.Integral) or not 0 <= user_id < self._n_users:
            return self.most_popular(k)
        u = int(user_id)
        start, end = self._matrix.indptr[u], self._matrix.indptr[u + 1]
        seen = self._matrix.indices[start:end]
        values = self._matrix.data[start:end]
        if seen.size == 0:
            return self.most_popular(k)
        scores = np.asarray(self._similarity[seen].T @ values).ravel()
        scores[seen] = 0.0
        candidates = np.flatnonzero(scores > 0)
        order = np.lexsort((candidates, -scores[candidates]))
        result = candidates[order][:k].tolist()
        if len(result) < k:
            taken = np.zeros(self._n_items, dtype=bool)
            taken[seen] = True
            taken[candidates] = True
            padding = self._by_popularity[~taken[self._by_popularity]]
            result += padding[: k - len(result)].tolist()
        return result

"""Item-item collaborative filtering with a popularity fallback (sparse cosine)."""

from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._matrix = None
        self._similarity = None
        self._by_popularity = None
        self._n_users = 0
        self._n_items = 0

    def fit(self, interactions) -> ItemItemRecommender:
        m = sparse.coo_array(interactions).astype(np.float64).tocsr()
        m.sum_duplicates()
        if m.data.size and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interaction values must be finite and non-negative")
        m.eliminate_zeros()
        m.sort_indices()
        n_users, n_items = m.shape
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inv = np.zeros_like(norms)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normalised = (m @ sparse.diags_array(inv)).tocsr()
        similarity = (normalised.T @ normalised).tocsr()
        self._matrix, self._similarity, self._by_popularity = m, similarity, by_popularity
        self._n_users, self._n_items = n_users, n_items
        return self

    def _check(self, k) -> None:
        if self._matrix is None:
            raise RuntimeError("fit() first")
        if k < 1:
            raise ValueError("k must be >= 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._check(k)
        return self._by_popularity[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._check(k)
        if not isinstance(user_id, numbers.Integral):
            return self.most_popular(k)
        user = int(user_id)
        if not 0 <= user < self._n_users:
            return self.most_popular(k)
        m = self._matrix
        start, end = m.indptr[user], m.indptr[user + 1]
        if start == end:
            return self.most_popular(k)
        seen = m.indices[start:end]
        values = m.data[start:end]
        scores = np.asarray(self._similarity[seen].T @ values).ravel()
        scores[seen] = 0.0
        candidates = np.flatnonzero(scores > 0)
        order = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
        result = order.tolist()
        if len(result) < k:
            taken = np.zeros(self._n_items, dtype=bool)
            taken[seen] = True
            taken[order] = True
            rest = self._by_popularity[~taken[self._by_popularity]]
            result += rest[: k - len(result)].tolist()
        return result

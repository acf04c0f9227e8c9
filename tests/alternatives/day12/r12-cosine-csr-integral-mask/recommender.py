"""Item-item collaborative filtering with a popularity fallback (cosine, precomputed sparse)."""

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
        if not np.all(np.isfinite(m.data)) or np.any(m.data < 0):
            raise ValueError("interactions must be finite and non-negative")
        m.eliminate_zeros()
        n_users, n_items = m.shape
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0))).ravel()
        inverse = np.zeros_like(norms)
        np.divide(1.0, norms, out=inverse, where=norms > 0)
        normalised = (m @ sparse.diags_array(inverse)).tocsr()
        similarity = (normalised.T @ normalised).tocsr()
        # commit only once everything is computed
        self._matrix = m
        self._similarity = similarity
        self._by_popularity = by_popularity
        self._n_users, self._n_items = n_users, n_items
        self._fitted = True
        return self

    def _check(self, k) -> None:
        if not self._fitted:
            raise RuntimeError("call fit() first")
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
        if start == end:
            return self.most_popular(k)
        seen = self._matrix.indices[start:end]
        values = self._matrix.data[start:end]
        scores = np.asarray(self._similarity[seen].T @ values).ravel()
        scores[seen] = 0.0
        candidates = np.flatnonzero(scores > 0)
        order = np.lexsort((candidates, -scores[candidates]))
        chosen = candidates[order][:k].tolist()
        if len(chosen) < k:
            excluded = np.zeros(self._n_items, dtype=bool)
            excluded[seen] = True
            excluded[candidates] = True
            padding = self._by_popularity[~excluded[self._by_popularity]]
            chosen += padding[: k - len(chosen)].tolist()
        return chosen

"""Item-item collaborative filtering with a popularity fallback (cosine, numpy/scipy style)."""

from __future__ import annotations

import operator

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._fitted = False

    def fit(self, interactions) -> ItemItemRecommender:
        m = sparse.coo_array(interactions).astype(np.float64).tocsr()
        m.sum_duplicates()
        if m.data.size and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interaction values must be finite and >= 0")
        m.eliminate_zeros()
        m.sort_indices()
        n_users, n_items = m.shape
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inverse = np.zeros(n_items)
        np.divide(1.0, norms, out=inverse, where=norms > 0)
        normalised = (m @ sparse.diags_array(inverse)).tocsc()
        similarity = (normalised.T @ normalised).tocsr()
        # commit only once everything has been computed
        self._m = m
        self._n_users, self._n_items = n_users, n_items
        self._by_popularity = by_popularity
        self._similarity = similarity
        self._fitted = True
        return self

    def _check(self, k: int) -> None:
        if not self._fitted:
            raise RuntimeError("fit() first")
        if k < 1:
            raise ValueError("k must be >= 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._check(k)
        return self._by_popularity[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._check(k)
        u = operator.index(user_id)
        if not 0 <= u < self._n_users:
            return self.most_popular(k)
        start, end = self._m.indptr[u], self._m.indptr[u + 1]
        if start == end:
            return self.most_popular(k)
        seen = self._m.indices[start:end]
        values = self._m.data[start:end]
        scores = np.asarray(self._similarity[seen].T @ values).ravel()
        scores[seen] = 0.0
        candidates = np.flatnonzero(scores > 0)
        order = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
        result = order.tolist()
        if len(result) < k:
            excluded = np.zeros(self._n_items, dtype=bool)
            excluded[seen] = True
            excluded[candidates] = True
            pad = self._by_popularity[~excluded[self._by_popularity]]
            result += pad[: k - len(result)].tolist()
        return result

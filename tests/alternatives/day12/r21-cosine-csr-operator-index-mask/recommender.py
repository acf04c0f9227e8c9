"""Item-item collaborative filtering with a popularity fallback (cosine on sparse columns)."""

from __future__ import annotations

import operator

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._matrix = None
        self._similarity = None
        self._by_popularity = None

    def fit(self, interactions) -> ItemItemRecommender:
        m = sparse.coo_array(interactions).astype(np.float64).tocsr()
        m.sum_duplicates()
        if m.data.size and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interaction values must be finite and non-negative")
        m.eliminate_zeros()
        m.sort_indices()
        n_items = m.shape[1]
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inv = np.zeros_like(norms)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normalised = (m @ sparse.diags_array(inv)).tocsc()
        similarity = (normalised.T @ normalised).tocsr()
        self._matrix, self._similarity, self._by_popularity = m, similarity, by_popularity
        return self

    def _check(self, k):
        if self._matrix is None:
            raise RuntimeError("fit() first")
        if k < 1:
            raise ValueError("k must be at least 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._check(k)
        return self._by_popularity[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._check(k)
        m = self._matrix
        try:
            u = operator.index(user_id)
        except TypeError:
            return self.most_popular(k)
        if u < 0 or u >= m.shape[0]:
            return self.most_popular(k)
        start, end = m.indptr[u], m.indptr[u + 1]
        if start == end:
            return self.most_popular(k)
        seen, values = m.indices[start:end], m.data[start:end]
        scores = np.asarray(self._similarity[seen].T @ values).ravel()
        scores[seen] = 0.0
        cand = np.flatnonzero(scores > 0)
        order = cand[np.lexsort((cand, -scores[cand]))][:k]
        result = order.tolist()
        if len(result) < k:
            taken = np.zeros(m.shape[1], dtype=bool)
            taken[seen] = True
            taken[order] = True
            pad = self._by_popularity[~taken[self._by_popularity]]
            result += pad[: k - len(result)].tolist()
        return result

"""Item-item collaborative filtering with a popularity fallback (precomputed sparse cosine)."""

from __future__ import annotations

import operator

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._fitted = False
        self._matrix: sparse.csr_array | None = None
        self._similarity: sparse.csr_array | None = None
        self._by_popularity: np.ndarray | None = None
        self._n_users = 0
        self._n_items = 0

    def fit(self, interactions) -> ItemItemRecommender:
        m = sparse.coo_array(interactions).astype(np.float64, copy=True).tocsr()
        m.sum_duplicates()
        if m.data.size and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interaction values must be finite and non-negative")
        m.eliminate_zeros()
        m.sort_indices()
        n_users, n_items = m.shape
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))

        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inverse = np.zeros(n_items)
        np.divide(1.0, norms, out=inverse, where=norms > 0)
        normalised = (m @ sparse.diags_array(inverse)).tocsc()
        similarity = sparse.csr_array(normalised.T @ normalised)

        self._matrix = m
        self._similarity = similarity
        self._by_popularity = by_popularity
        self._n_users, self._n_items = n_users, n_items
        self._fitted = True
        return self

    def _check(self, k) -> None:
        if not self._fitted:
            raise RuntimeError("fit() the recommender first")
        if k < 1:
            raise ValueError("k must be at least 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._check(k)
        return self._by_popularity[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._check(k)
        try:
            user = operator.index(user_id)
        except TypeError:
            return self.most_popular(k)
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
            excluded = np.zeros(self._n_items, dtype=bool)
            excluded[seen] = True
            excluded[order] = True
            pad = self._by_popularity[~excluded[self._by_popularity]][: k - len(result)]
            result.extend(pad.tolist())
        return result

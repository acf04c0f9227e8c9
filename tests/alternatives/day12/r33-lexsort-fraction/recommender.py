"""Item-item CF, scipy idiomatic: cosine on column-normalised CSR, lexsort rankings."""
from __future__ import annotations

import operator

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model = None  # (matrix, similarity, by_popularity) once fitted

    def fit(self, interactions) -> "ItemItemRecommender":
        m = sparse.coo_array(interactions).astype(np.float64).tocsr()  # copy, duplicates summed in float
        m.sum_duplicates()
        if m.data.size and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interaction values must be finite and non-negative")
        m.eliminate_zeros()
        n_users, n_items = m.shape
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inv = np.zeros(n_items)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normalised = (m @ sparse.diags_array(inv)).tocsr()
        similarity = (normalised.T @ normalised).tocsr()
        self._model = (m, similarity, by_popularity)
        return self

    def _fitted(self):
        if self._model is None:
            raise RuntimeError("fit() first")
        return self._model

    @staticmethod
    def _check_k(k):
        if k < 1:
            raise ValueError("k must be at least 1")

    def most_popular(self, k: int = 10) -> list[int]:
        _, _, by_popularity = self._fitted()
        self._check_k(k)
        return by_popularity[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        m, similarity, by_popularity = self._fitted()
        self._check_k(k)
        u = operator.index(user_id)
        u = int(u)
        if u < 0 or u >= m.shape[0]:
            return by_popularity[:k].tolist()
        start, end = m.indptr[u], m.indptr[u + 1]
        if start == end:
            return by_popularity[:k].tolist()
        seen, values = m.indices[start:end], m.data[start:end]
        scores = np.asarray(similarity[seen].T @ values).ravel()
        scores[seen] = 0.0
        cand = np.flatnonzero(scores > 0)
        cand = cand[np.lexsort((cand, -scores[cand]))][:k]
        result = cand.tolist()
        if len(result) < k:
            excluded = np.zeros(m.shape[1], dtype=bool)
            excluded[seen] = True
            excluded[cand] = True
            pad = by_popularity[~excluded[by_popularity]][: k - len(result)]
            result += pad.tolist()
        return result

"""Item-item collaborative filtering with a popularity fallback (vectorised scipy cosine)."""

from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model = None  # (matrix, similarity, by_popularity) once fitted

    def fit(self, interactions) -> ItemItemRecommender:
        m = sparse.coo_array(interactions).astype(np.float64).tocsr()  # a copy, duplicates summed in float64
        m.sum_duplicates()
        if m.nnz and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interaction values must be finite and non-negative")
        m.eliminate_zeros()
        n_items = m.shape[1]
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inv = np.zeros(n_items)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normalised = (m @ sparse.diags_array(inv)).tocsr()
        similarity = (normalised.T @ normalised).tocsr()
        self._model = (m, similarity, by_popularity)
        return self

    def _check(self, k):
        if self._model is None:
            raise RuntimeError("fit() first")
        if k < 1:
            raise ValueError("k must be at least 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._check(k)
        return self._model[2][:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._check(k)
        m, similarity, by_popularity = self._model
        if not isinstance(user_id, numbers.Integral):
            return self.most_popular(k)
        user = int(user_id)
        if user < 0 or user >= m.shape[0] or m.indptr[user] == m.indptr[user + 1]:
            return self.most_popular(k)
        start, end = m.indptr[user], m.indptr[user + 1]
        seen, values = m.indices[start:end], m.data[start:end]
        scores = np.asarray(similarity[seen].T @ values).ravel().copy()
        scores[seen] = 0.0
        cand = np.flatnonzero(scores > 0)
        cand = cand[np.lexsort((cand, -scores[cand]))][:k]
        out = cand.tolist()
        if len(out) < k:
            blocked = np.zeros(m.shape[1], dtype=bool)
            blocked[seen] = True
            blocked[cand] = True
            pad = by_popularity[~blocked[by_popularity]]
            out += pad[: k - len(out)].tolist()
        return out

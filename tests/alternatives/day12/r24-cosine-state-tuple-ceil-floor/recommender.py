"""Item-item collaborative filtering with a popularity fallback (cosine, scipy.sparse)."""

from __future__ import annotations

import operator

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._state = None  # (matrix, similarity, by_popularity) once fitted

    def fit(self, interactions) -> ItemItemRecommender:
        m = sparse.coo_array(interactions).astype(np.float64).tocsr()  # copy, duplicates summed in floats
        m.sum_duplicates()
        if m.nnz and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interaction values must be finite and non-negative")
        m.eliminate_zeros()
        n_items = m.shape[1]
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inv = np.zeros_like(norms)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normalised = (m @ sparse.diags_array(inv)).tocsc()
        similarity = (normalised.T @ normalised).tocsr()
        self._state = (m, similarity, by_popularity)
        return self

    def _fitted(self):
        if self._state is None:
            raise RuntimeError("fit() first")
        return self._state

    def most_popular(self, k: int = 10) -> list[int]:
        _, _, by_popularity = self._fitted()
        if k < 1:
            raise ValueError("k must be >= 1")
        return by_popularity[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        m, similarity, by_popularity = self._fitted()
        if k < 1:
            raise ValueError("k must be >= 1")
        try:
            u = operator.index(user_id)
        except TypeError:
            return self.most_popular(k)
        if not 0 <= u < m.shape[0]:
            return self.most_popular(k)
        start, end = m.indptr[u], m.indptr[u + 1]
        seen, values = m.indices[start:end], m.data[start:end]
        if len(seen) == 0:
            return self.most_popular(k)
        scores = similarity[seen].T @ values
        scores = np.asarray(scores).ravel().copy()
        scores[seen] = 0.0
        cand = np.flatnonzero(scores > 0)
        cand = cand[np.lexsort((cand, -scores[cand]))][:k]
        out = cand.tolist()
        if len(out) < k:
            excluded = np.zeros(m.shape[1], dtype=bool)
            excluded[seen] = True
            excluded[cand] = True
            rest = by_popularity[~excluded[by_popularity]]
            out += rest[: k - len(out)].tolist()
        return out

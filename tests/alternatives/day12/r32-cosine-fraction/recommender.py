"""Item-item cosine CF with a popularity fallback (style A: reference-like, CSR + lexsort)."""

from __future__ import annotations

import operator

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._m = None
        self._sim = None
        self._order = None

    def fit(self, interactions) -> "ItemItemRecommender":
        m = sparse.coo_array(interactions).astype(np.float64).tocsr()
        if m.nnz and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interaction values must be finite and non-negative")
        m.eliminate_zeros()
        m.sort_indices()
        n_items = m.shape[1]
        users_per_item = np.bincount(m.indices, minlength=n_items)
        order = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0), dtype=np.float64).ravel())
        inv = np.zeros(n_items, dtype=np.float64)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normed = sparse.csr_array(m @ sparse.diags_array(inv))
        sim = sparse.csr_array(normed.T @ normed)
        self._m, self._sim, self._order = m, sim, order
        return self

    def _check(self, k) -> None:
        if self._m is None:
            raise RuntimeError("fit() first")
        if k < 1:
            raise ValueError("k must be >= 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._check(k)
        return self._order[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._check(k)
        m = self._m
        uid = operator.index(user_id)
        if not 0 <= uid < m.shape[0]:
            return self.most_popular(k)
        start, end = m.indptr[uid], m.indptr[uid + 1]
        if start == end:
            return self.most_popular(k)
        seen = m.indices[start:end]
        values = m.data[start:end]
        scores = np.asarray(self._sim[seen].T @ values, dtype=np.float64).ravel()
        scores[seen] = 0.0
        cand = np.flatnonzero(scores > 0)
        cand = cand[np.lexsort((cand, -scores[cand]))][:k]
        result = cand.tolist()
        if len(result) < k:
            taken = np.zeros(m.shape[1], dtype=bool)
            taken[seen] = True
            taken[cand] = True
            pad = self._order[~taken[self._order]][: k - len(result)]
            result += pad.tolist()
        return result

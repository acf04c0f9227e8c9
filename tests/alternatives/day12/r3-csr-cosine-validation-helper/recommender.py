"""Answer A: scipy CSR, cosine via column-normalised matrix product, lexsort ranking."""
from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._fitted = False

    def fit(self, interactions) -> "ItemItemRecommender":
        m = sparse.coo_array(interactions).astype(float, copy=True).tocsr()
        m.sum_duplicates()
        if not np.all(np.isfinite(m.data)) or np.any(m.data < 0):
            raise ValueError("interaction values must be finite and non-negative")
        m.eliminate_zeros()
        n_users, n_items = m.shape
        users_per_item = np.bincount(m.indices, minlength=n_items)
        order = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0))).ravel()
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        normalised = m @ sparse.diags_array(inverse)
        self._m = m
        self._n_users, self._n_items = n_users, n_items
        self._popular = order
        self._similarity = (normalised.T @ normalised).tocsr()
        self._fitted = True
        return self

    def _check(self, k):
        if not self._fitted:
            raise RuntimeError("fit() first")
        if k < 1:
            raise ValueError("k must be at least 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._check(k)
        return self._popular[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._check(k)
        if not isinstance(user_id, numbers.Integral) or not 0 <= user_id < self._n_users:
            return self.most_popular(k)
        u = int(user_id)
        start, end = self._m.indptr[u], self._m.indptr[u + 1]
        seen, values = self._m.indices[start:end], self._m.data[start:end]
        if len(seen) == 0:
            return self.most_popular(k)
        scores = np.asarray(self._similarity[seen].T @ values).ravel()
        scores[seen] = 0.0
        cand = np.flatnonzero(scores > 0)
        cand = cand[np.lexsort((cand, -scores[cand]))][:k]
        out = cand.tolist()
        if len(out) < k:
            taken = set(out) | set(seen.tolist())
            for item in self._popular.tolist():
                if len(out) >= k:
                    break
                if item not in taken:
                    out.append(item)
        return out

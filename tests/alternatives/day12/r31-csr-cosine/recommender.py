from __future__ import annotations

import operator

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._state = None

    def fit(self, interactions) -> "ItemItemRecommender":
        m = sparse.coo_array(interactions).astype(np.float64).tocsr()   # copy, duplicates summed in floats
        if m.data.size and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interaction values must be finite and non-negative")
        m.eliminate_zeros()
        m.sort_indices()
        n_users, n_items = m.shape
        users_per_item = np.bincount(m.indices, minlength=n_items)
        order = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inv = np.zeros(n_items)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normed = (m @ sparse.diags_array(inv)).tocsc()
        sim = (normed.T @ normed).tocsr()
        sim.eliminate_zeros()
        self._state = (m, order, sim, n_users, n_items)
        return self

    def _fitted(self):
        if self._state is None:
            raise RuntimeError("fit() first")
        return self._state

    @staticmethod
    def _check_k(k):
        if k < 1:
            raise ValueError("k must be >= 1")

    def most_popular(self, k: int = 10) -> list[int]:
        _, order, _, _, _ = self._fitted()
        self._check_k(k)
        return order[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        m, order, sim, n_users, n_items = self._fitted()
        self._check_k(k)
        u = operator.index(user_id)
        if not 0 <= u < n_users:
            return self.most_popular(k)
        start, end = m.indptr[u], m.indptr[u + 1]
        seen = m.indices[start:end]
        if seen.size == 0:
            return self.most_popular(k)
        values = m.data[start:end]
        scores = np.asarray(sim[seen].T @ values, dtype=np.float64).ravel()
        scores[seen] = 0.0
        cand = np.flatnonzero(scores > 0)
        cand = cand[np.lexsort((cand, -scores[cand]))][:k]
        out = cand.tolist()
        if len(out) < k:
            excluded = np.zeros(n_items, dtype=bool)
            excluded[seen] = True
            excluded[cand] = True
            pad = order[~excluded[order]][: k - len(out)]
            out += pad.tolist()
        return out

from __future__ import annotations

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._m = None
        self._sim = None
        self._by_pop = None

    def fit(self, interactions) -> "ItemItemRecommender":
        m = sparse.coo_array(interactions).astype(np.float64).tocsr()
        m.sum_duplicates()
        if m.data.size and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interactions must be finite and non-negative")
        m.eliminate_zeros()
        m.sort_indices()
        n_items = m.shape[1]
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_pop = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0))).ravel()
        inv = np.zeros_like(norms)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normed = (m @ sparse.diags_array(inv)).tocsc()
        sim = (normed.T @ normed).tocsr()
        self._m, self._sim, self._by_pop = m, sim, by_pop
        return self

    def _check(self, k):
        if self._m is None:
            raise RuntimeError("not fitted")
        if k < 1:
            raise ValueError("k must be >= 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._check(k)
        return self._by_pop[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._check(k)
        m = self._m
        u = int(user_id)
        if u < 0 or u >= m.shape[0] or m.indptr[u] == m.indptr[u + 1]:
            return self.most_popular(k)
        start, end = m.indptr[u], m.indptr[u + 1]
        seen, values = m.indices[start:end], m.data[start:end]
        scores = np.asarray(self._sim[seen].T @ values).ravel()
        scores[seen] = 0.0
        cand = np.flatnonzero(scores > 0)
        order = cand[np.lexsort((cand, -scores[cand]))][:k]
        out = order.tolist()
        if len(out) < k:
            taken = np.zeros(m.shape[1], dtype=bool)
            taken[seen] = True
            taken[order] = True
            rest = self._by_pop[~taken[self._by_pop]]
            out += rest[: k - len(out)].tolist()
        return out

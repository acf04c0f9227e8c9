"""Item-item CF: cosine on a sparse CSR copy, numpy lexsort ranking."""
from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._state = None

    def fit(self, interactions) -> ItemItemRecommender:
        m = sparse.coo_array(interactions).astype(np.float64).tocsr()
        m.sum_duplicates()
        if m.data.size and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interaction values must be finite and >= 0")
        m.eliminate_zeros()
        m.sort_indices()
        n_users, n_items = m.shape
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_pop = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inv = np.zeros(n_items)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normed = (m @ sparse.diags_array(inv)).tocsc()
        sim = (normed.T @ normed).tocsr()
        self._state = (m, by_pop, sim, n_users, n_items)
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
        _, by_pop, _, _, _ = self._fitted()
        self._check_k(k)
        return by_pop[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        m, by_pop, sim, n_users, n_items = self._fitted()
        self._check_k(k)
        u = int(user_id)
        if u < 0 or u >= n_users or m.indptr[u] == m.indptr[u + 1]:
            return by_pop[:k].tolist()
        seen = m.indices[m.indptr[u]:m.indptr[u + 1]]
        values = m.data[m.indptr[u]:m.indptr[u + 1]]
        scores = np.asarray(sim[seen].T @ values).ravel().astype(np.float64)
        scores[seen] = 0.0
        cand = np.flatnonzero(scores > 0)
        order = cand[np.lexsort((cand, -scores[cand]))][:k]
        out = order.tolist()
        if len(out) < k:
            taken = np.zeros(n_items, dtype=bool)
            taken[seen] = True
            taken[order] = True
            rest = by_pop[~taken[by_pop]]
            out += rest[: k - len(out)].tolist()
        return out

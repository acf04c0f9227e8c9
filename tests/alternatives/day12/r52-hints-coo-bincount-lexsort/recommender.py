"""Item-item CF, following the hints: coo -> float -> csr, cosine similarity as sparse product."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (numbers.Integral, np.integer)):
        raise ValueError("k must be an integer")
    k = int(k)
    if k < 1:
        raise ValueError("k must be >= 1")
    return k


class ItemItemRecommender:
    def __init__(self) -> None:
        self._fitted = False
        self._m = None
        self._sim = None
        self._by_pop = None
        self._n_users = 0
        self._n_items = 0

    def fit(self, interactions) -> ItemItemRecommender:
        m = sp.coo_array(interactions).astype(np.float64).tocsr()
        m.sum_duplicates()
        if m.data.size and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interaction values must be finite and >= 0")
        m.eliminate_zeros()
        n_users, n_items = m.shape
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_pop = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inv = np.zeros(n_items, dtype=np.float64)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normed = (m @ sp.diags_array(inv)).tocsr()
        sim = (normed.T @ normed).tocsr()
        # commit only once everything succeeded
        self._m = m
        self._sim = sim
        self._by_pop = by_pop
        self._n_users, self._n_items = n_users, n_items
        self._fitted = True
        return self

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError("fit() first")

    def most_popular(self, k: int = 10) -> list[int]:
        self._check_fitted()
        k = _check_k(k)
        return self._by_pop[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._check_fitted()
        k = _check_k(k)
        if isinstance(user_id, bool) or not isinstance(user_id, (numbers.Integral, np.integer)):
            raise ValueError("user_id must be an integer")
        u = int(user_id)
        if u < 0 or u >= self._n_users:
            return self.most_popular(k)
        m = self._m
        start, end = m.indptr[u], m.indptr[u + 1]
        if start == end:
            return self.most_popular(k)
        seen = m.indices[start:end]
        values = m.data[start:end]
        scores = np.asarray(self._sim[seen].T @ values, dtype=np.float64).ravel()
        scores[seen] = 0.0
        cand = np.flatnonzero(scores > 0)
        order = cand[np.lexsort((cand, -scores[cand]))][:k]
        result = order.tolist()
        if len(result) < k:
            taken = np.zeros(self._n_items, dtype=bool)
            taken[seen] = True
            taken[cand] = True
            pop = self._by_pop[~taken[self._by_pop]]
            result.extend(pop[: k - len(result)].tolist())
        return result

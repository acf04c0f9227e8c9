"""Item-item collaborative filtering with a popularity fallback (cosine on CSR)."""

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
            raise ValueError("interaction values must be finite and non-negative")
        m.eliminate_zeros()
        m.sort_indices()
        n_users, n_items = m.shape
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0))).ravel()
        inv = np.zeros(n_items)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normalised = (m @ sparse.diags_array(inv)).tocsr()
        similarity = (normalised.T @ normalised).tocsr()
        self._state = (m, by_popularity, similarity, n_users, n_items)
        return self

    def _fitted(self):
        if self._state is None:
            raise RuntimeError("call fit() first")
        return self._state

    @staticmethod
    def _check_k(k):
        if k < 1:
            raise ValueError("k must be at least 1")

    def most_popular(self, k: int = 10) -> list[int]:
        _, by_popularity, _, _, _ = self._fitted()
        self._check_k(k)
        return by_popularity[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        m, by_popularity, similarity, n_users, n_items = self._fitted()
        self._check_k(k)
        if not isinstance(user_id, numbers.Integral) or not 0 <= int(user_id) < n_users:
            return self.most_popular(k)
        u = int(user_id)
        start, end = m.indptr[u], m.indptr[u + 1]
        if start == end:
            return self.most_popular(k)
        seen = m.indices[start:end]
        values = m.data[start:end]
        scores = np.asarray(similarity[seen].T @ values).ravel()
        scores[seen] = 0.0
        cand = np.flatnonzero(scores > 0)
        order = np.lexsort((cand, -scores[cand]))
        chosen = cand[order][:k].tolist()
        if len(chosen) < k:
            taken = np.zeros(n_items, dtype=bool)
            taken[seen] = True
            taken[cand] = True
            rest = by_popularity[~taken[by_popularity]]
            chosen.extend(rest[: k - len(chosen)].tolist())
        return chosen

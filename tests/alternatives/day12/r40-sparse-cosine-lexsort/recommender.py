"""Item-item collaborative filtering with a popularity fallback (style A: precomputed sparse cosine)."""

from __future__ import annotations

import operator

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model = None  # (matrix, similarity, by_popularity, n_users, n_items)

    def fit(self, interactions) -> ItemItemRecommender:
        m = sparse.coo_array(interactions).astype(np.float64).tocsr()  # copy, duplicates summed in float64
        m.sum_duplicates()
        data = m.data
        if not np.all(np.isfinite(data)) or np.any(data < 0):
            raise ValueError("interactions must be finite and non-negative")
        m.eliminate_zeros()
        m.sort_indices()
        n_users, n_items = m.shape
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))
        # column lengths, scaled by each column's largest value so that squaring neither
        # underflows (a value of 1e-170) nor overflows (1e200)
        col_max = np.asarray(m.max(axis=0).toarray(), dtype=np.float64).ravel() if n_users else np.zeros(n_items)
        inv_max = np.zeros(n_items, dtype=np.float64)
        np.divide(1.0, col_max, out=inv_max, where=col_max > 0)
        scaled = m @ sparse.diags_array(inv_max)
        norms = col_max * np.sqrt(np.asarray(scaled.multiply(scaled).sum(axis=0), dtype=np.float64)).ravel()
        inv = np.zeros(n_items, dtype=np.float64)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normalised = (m @ sparse.diags_array(inv)).tocsr()
        similarity = (normalised.T @ normalised).tocsr()
        similarity.eliminate_zeros()
        self._model = (m, similarity, by_popularity, n_users, n_items)
        return self

    def _fitted(self):
        model = self._model
        if model is None:
            raise RuntimeError("fit() first")
        return model

    @staticmethod
    def _check_k(k) -> int:
        k = operator.index(k)
        if k < 1:
            raise ValueError("k must be at least 1")
        return k

    def most_popular(self, k: int = 10) -> list[int]:
        model = self._fitted()
        k = self._check_k(k)
        return model[2][:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        model = self._fitted()
        k = self._check_k(k)
        m, similarity, by_popularity, n_users, n_items = model
        user = int(operator.index(user_id))
        if user < 0 or user >= n_users:
            return by_popularity[:k].tolist()
        start, end = int(m.indptr[user]), int(m.indptr[user + 1])
        if start == end:
            return by_popularity[:k].tolist()
        seen = m.indices[start:end]
        values = m.data[start:end]
        scores = np.asarray(similarity[seen].T @ values, dtype=np.float64).ravel()
        seen_mask = np.zeros(n_items, dtype=bool)
        seen_mask[seen] = True
        candidates = np.flatnonzero((scores > 0) & ~seen_mask)
        order = np.lexsort((candidates, -scores[candidates]))
        ranked = candidates[order][:k].tolist()
        if len(ranked) < k:
            taken = seen_mask.copy()
            taken[candidates] = True
            rest = by_popularity[~taken[by_popularity]]
            ranked += rest[: k - len(ranked)].tolist()
        return ranked

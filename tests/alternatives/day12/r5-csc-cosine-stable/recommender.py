"""Item-item cosine on scipy.sparse: CSC for the columns, stable argsort for the ranking."""

from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._state = None  # (rows_csr, similarity_csr, popularity_order, n_users, n_items)

    def fit(self, interactions) -> ItemItemRecommender:
        # Convert to float64 before any duplicate is summed (small integer dtypes would wrap).
        coo = sparse.coo_array(interactions)
        coo = sparse.coo_array((coo.data.astype(np.float64), (coo.row.copy(), coo.col.copy())), shape=coo.shape)
        rows = coo.tocsr()  # sums duplicates
        rows.sum_duplicates()
        if rows.data.size and (not np.all(np.isfinite(rows.data)) or rows.data.min() < 0):
            raise ValueError("interaction values must be finite and non-negative")
        rows.eliminate_zeros()
        rows.sort_indices()
        n_users, n_items = rows.shape
        cols = rows.tocsc()
        users_per_item = np.diff(cols.indptr)
        # stable sort on -count keeps ids ascending within equal counts
        order = np.argsort(-users_per_item, kind="stable")
        norms = np.sqrt(np.asarray(cols.power(2).sum(axis=0)).ravel())
        inverse = np.zeros_like(norms)
        np.divide(1.0, norms, out=inverse, where=norms > 0)
        normalised = (cols @ sparse.diags_array(inverse)).tocsc()
        similarity = (normalised.T @ normalised).tocsr()
        self._state = (rows, similarity, order, n_users, n_items)
        return self

    def _fitted(self):
        if self._state is None:
            raise RuntimeError("call fit() first")
        return self._state

    @staticmethod
    def _check_k(k) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")

    def most_popular(self, k: int = 10) -> list[int]:
        _, _, order, _, _ = self._fitted()
        self._check_k(k)
        return [int(item) for item in order[:k]]

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        rows, similarity, order, n_users, n_items = self._fitted()
        self._check_k(k)
        if not isinstance(user_id, numbers.Integral) or not 0 <= int(user_id) < n_users:
            return self.most_popular(k)
        u = int(user_id)
        start, end = rows.indptr[u], rows.indptr[u + 1]
        if start == end:
            return self.most_popular(k)
        seen = rows.indices[start:end]
        values = rows.data[start:end]
        scores = np.asarray(similarity[seen].T @ values).ravel()
        scores[seen] = 0.0
        positive = np.flatnonzero(scores > 0)
        ranked = positive[np.argsort(-scores[positive], kind="stable")][:k]
        result = [int(item) for item in ranked]
        if len(result) < k:
            taken = np.zeros(n_items, dtype=bool)
            taken[seen] = True
            taken[ranked] = True
            for item in order[~taken[order]][: k - len(result)]:
                result.append(int(item))
        return result

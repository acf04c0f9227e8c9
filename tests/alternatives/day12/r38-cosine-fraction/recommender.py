"""Item-item cosine recommender on CSR, popularity fallback (vectorised numpy/scipy)."""

from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model = None  # (csr, similarity, popularity order) once fitted

    def fit(self, interactions) -> ItemItemRecommender:
        csr = sparse.coo_array(interactions).astype(np.float64).tocsr()  # copy, duplicates summed in float64
        csr.sum_duplicates()
        data = csr.data
        if not np.all(np.isfinite(data)) or np.any(data < 0):
            raise ValueError("interaction values must be finite and non-negative")
        csr.eliminate_zeros()
        csr.sort_indices()
        n_users, n_items = csr.shape
        users_per_item = np.bincount(csr.indices, minlength=n_items)
        popularity = np.lexsort((np.arange(n_items), -users_per_item))
        # cosine: scale each column by its largest value first, so squares neither overflow nor underflow
        csc = csr.tocsc()
        col_max = np.zeros(n_items)
        nonempty = np.diff(csc.indptr) > 0
        if csc.nnz:
            col_max[nonempty] = np.maximum.reduceat(csc.data, csc.indptr[:-1][nonempty])
        scaled = csc.copy()
        owners = np.repeat(np.arange(n_items), np.diff(csc.indptr))
        scaled.data = csc.data / col_max[owners]
        norms = np.sqrt(np.asarray(scaled.multiply(scaled).sum(axis=0))).ravel()
        scaled.data = scaled.data / norms[owners]
        normalised = scaled.tocsr()
        similarity = (normalised.T @ normalised).tocsr()
        similarity.sort_indices()
        self._model = (csr, similarity, popularity)
        return self

    def _fitted(self):
        if self._model is None:
            raise RuntimeError("fit() first")
        return self._model

    @staticmethod
    def _check_k(k):
        if k < 1:
            raise ValueError("k must be at least 1")

    def most_popular(self, k: int = 10) -> list[int]:
        _, _, popularity = self._fitted()
        self._check_k(k)
        return popularity[: int(k)].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        csr, similarity, popularity = self._fitted()
        self._check_k(k)
        k = int(k)
        if not isinstance(user_id, (numbers.Integral, np.integer)):
            return self.most_popular(k)
        user = int(user_id)
        if user < 0 or user >= csr.shape[0] or csr.indptr[user] == csr.indptr[user + 1]:
            return self.most_popular(k)
        start, stop = csr.indptr[user], csr.indptr[user + 1]
        seen = csr.indices[start:stop]
        values = csr.data[start:stop]
        scores = np.asarray(similarity[seen].T @ values, dtype=np.float64).ravel()
        scores[seen] = 0.0
        candidates = np.flatnonzero(scores > 0)
        ranked = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
        result = ranked.tolist()
        if len(result) < k:
            blocked = np.zeros(csr.shape[1], dtype=bool)
            blocked[seen] = True
            blocked[candidates] = True
            rest = popularity[~blocked[popularity]]
            result += rest[: k - len(result)].tolist()
        return result

"""Item-item cosine recommender, vectorised with scipy.sparse and numpy."""

from __future__ import annotations

import operator

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model = None   # (matrix, similarity, popularity order) once fitted

    def fit(self, interactions) -> ItemItemRecommender:
        matrix = sparse.coo_array(interactions).astype(np.float64).tocsr()
        if matrix.nnz and not (np.isfinite(matrix.data).all() and (matrix.data >= 0).all()):
            raise ValueError("interaction values must be finite and not negative")
        matrix.eliminate_zeros()
        matrix.sort_indices()
        n_items = matrix.shape[1]
        users_per_item = np.bincount(matrix.indices, minlength=n_items)
        order = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
        inverse = np.zeros(n_items)
        np.divide(1.0, norms, out=inverse, where=norms > 0)
        normalised = (matrix @ sparse.diags_array(inverse)).tocsr()
        similarity = (normalised.T @ normalised).tocsr()
        self._model = (matrix, similarity, order)
        return self

    def _fitted(self):
        if self._model is None:
            raise RuntimeError("fit() the recommender first")
        return self._model

    def most_popular(self, k: int = 10) -> list[int]:
        _, _, order = self._fitted()
        if k < 1:
            raise ValueError("k must be at least 1")
        return order[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        matrix, similarity, order = self._fitted()
        if k < 1:
            raise ValueError("k must be at least 1")
        try:
            user = operator.index(user_id)
        except TypeError:
            return self.most_popular(k)
        if not 0 <= user < matrix.shape[0]:
            return self.most_popular(k)
        start, end = matrix.indptr[user], matrix.indptr[user + 1]
        if start == end:
            return self.most_popular(k)
        seen = matrix.indices[start:end]
        values = matrix.data[start:end]
        scores = np.asarray(similarity[seen].T @ values).ravel()
        scores[seen] = 0.0
        candidates = np.flatnonzero(scores > 0)
        candidates = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
        if len(candidates) >= k:
            return candidates.tolist()
        taken = np.zeros(matrix.shape[1], dtype=bool)
        taken[seen] = True
        taken[candidates] = True
        padding = order[~taken[order]][: k - len(candidates)]
        return candidates.tolist() + padding.tolist()

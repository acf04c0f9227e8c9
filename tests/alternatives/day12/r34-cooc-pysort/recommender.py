"""Item-item CF with co-occurrence counts (binary X^T X), CSC popularity, Python sorting with tuple keys."""
from __future__ import annotations

import operator

import numpy as np
import scipy.sparse as sp


class _Model:
    __slots__ = ("rows", "cooc", "popular", "n_users", "n_items")


class ItemItemRecommender:
    def __init__(self) -> None:
        self.model = None

    def fit(self, interactions) -> ItemItemRecommender:
        coo = sp.coo_matrix(interactions)
        values = coo.data.astype(float)
        if not np.isfinite(values).all() or (values < 0).any():
            raise ValueError("values must be finite and non-negative")
        summed = sp.csr_matrix((values, (coo.row.copy(), coo.col.copy())), shape=coo.shape)
        summed.sum_duplicates()
        summed.eliminate_zeros()
        n_users, n_items = summed.shape
        binary = summed.copy()
        binary.data = np.ones_like(binary.data)
        per_item = np.diff(binary.tocsc().indptr)
        popular = sorted(range(n_items), key=lambda j: (-int(per_item[j]), j))
        cooc = (binary.T @ binary).tocsr()
        rows = {}
        for u in range(n_users):
            lo, hi = summed.indptr[u], summed.indptr[u + 1]
            if hi > lo:
                rows[u] = (summed.indices[lo:hi].copy(), summed.data[lo:hi].copy())
        model = _Model()
        model.rows, model.cooc, model.popular = rows, cooc, popular
        model.n_users, model.n_items = n_users, n_items
        self.model = model
        return self

    def _ready(self, k):
        if self.model is None:
            raise RuntimeError("not fitted")
        if k < 1:
            raise ValueError("k must be at least 1")
        return self.model

    def most_popular(self, k: int = 10) -> list[int]:
        model = self._ready(k)
        return list(model.popular[:k])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        model = self._ready(k)
        user = operator.index(user_id)
        row = model.rows.get(int(user))
        if row is None:
            return list(model.popular[:k])
        items, values = row
        weights = sp.csr_matrix((values, (np.zeros(len(items), dtype=np.int64), items)), shape=(1, model.n_items))
        scores = (weights @ model.cooc).tocoo()
        seen = set(items.tolist())
        scored = [(-float(s), int(j)) for j, s in zip(scores.col, scores.data) if s > 0 and int(j) not in seen]
        scored.sort()
        result = [j for _, j in scored[:k]]
        if len(result) < k:
            taken = seen | set(result)
            for j in model.popular:
                if len(result) >= k:
                    break
                if j not in taken:
                    result.append(j)
        return result

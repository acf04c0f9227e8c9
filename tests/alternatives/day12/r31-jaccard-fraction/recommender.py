"""Jaccard item-item similarity, per-request scores accumulated with np.add.at, ranked with sorted()."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class _Model:
    history: list          # per user: (items array, values array)
    popular: tuple         # item ids, most popular first
    neigh_ptr: np.ndarray  # CSR of the Jaccard similarity
    neigh_idx: np.ndarray
    neigh_val: np.ndarray
    n_items: int


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model: _Model | None = None

    def fit(self, interactions) -> "ItemItemRecommender":
        coo = sparse.coo_array(interactions)
        data = np.array(coo.data, dtype=np.float64)          # cast before summing repeated cells
        if np.isnan(data).any() or np.isinf(data).any() or (data < 0).any():
            raise ValueError("values must be finite and >= 0")
        n_users, n_items = coo.shape
        summed = sparse.csc_array((data, (np.array(coo.row), np.array(coo.col))), shape=(n_users, n_items))
        summed.sum_duplicates()
        summed.eliminate_zeros()
        by_user = summed.tocsr()
        by_user.sort_indices()
        history = [(by_user.indices[by_user.indptr[u]:by_user.indptr[u + 1]].copy(),
                    by_user.data[by_user.indptr[u]:by_user.indptr[u + 1]].copy()) for u in range(n_users)]
        counts = np.diff(summed.indptr)                         # users per item (CSC columns)
        popular = tuple(sorted(range(n_items), key=lambda j: (-int(counts[j]), j)))
        binary = by_user.copy()
        binary.data = np.ones_like(binary.data)
        both = (binary.T @ binary).tocoo()                      # co-occurrence counts
        union = counts[both.row] + counts[both.col] - both.data
        jac = sparse.csr_array((both.data / union, (both.row, both.col)), shape=(n_items, n_items))
        jac.sort_indices()
        self._model = _Model(history, popular, jac.indptr, jac.indices, jac.data, n_items)
        return self

    def _need(self, k) -> _Model:
        if self._model is None:
            raise RuntimeError("not fitted")
        if k < 1:
            raise ValueError("k must be at least 1")
        return self._model

    def most_popular(self, k: int = 10) -> list[int]:
        model = self._need(k)
        return list(model.popular[:k])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        model = self._need(k)
        uid = int(user_id)
        if uid < 0 or uid >= len(model.history) or model.history[uid][0].size == 0:
            return self.most_popular(k)
        items, values = model.history[uid]
        scores = np.zeros(model.n_items)
        for item, value in zip(items.tolist(), values.tolist()):
            lo, hi = model.neigh_ptr[item], model.neigh_ptr[item + 1]
            np.add.at(scores, model.neigh_idx[lo:hi], value * model.neigh_val[lo:hi])
        seen = set(items.tolist())
        ranked = sorted((j for j in np.flatnonzero(scores > 0).tolist() if j not in seen),
                        key=lambda j: (-scores[j], j))[:k]
        taken = seen | set(ranked)
        for j in model.popular:
            if len(ranked) >= k:
                break
            if j not in taken:
                ranked.append(j)
        return ranked

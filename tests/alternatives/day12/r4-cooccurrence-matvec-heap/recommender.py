"""Item-item collaborative filtering, scored per request from co-occurrence counts.

No item-item matrix is kept: with B the binary users x items matrix and v the user's
values, the co-occurrence score of every item is B.T @ (B @ v), two sparse products.
The top k is taken with a heap.
"""

from __future__ import annotations

import heapq
import numbers

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._state = None  # (values CSR, binary CSR, popularity list, n_users, n_items)

    def fit(self, interactions) -> ItemItemRecommender:
        coo = sparse.coo_array(interactions).astype(np.float64)  # astype copies
        coo.sum_duplicates()
        bad = ~np.isfinite(coo.data) | (coo.data < 0)
        if bad.any():
            raise ValueError("interactions must be finite and >= 0")
        keep = coo.data != 0
        coo = sparse.coo_array((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)
        values = coo.tocsr()
        binary = values.copy()
        binary.data = np.ones_like(binary.data)
        n_users, n_items = values.shape
        users = np.asarray(binary.sum(axis=0)).ravel().astype(np.int64)
        popularity = sorted(range(n_items), key=lambda item: (-int(users[item]), item))
        self._state = (values, binary, popularity, n_users, n_items)
        return self

    def _ready(self, k):
        if self._state is None:
            raise RuntimeError("the recommender is not fitted")
        if k < 1:
            raise ValueError("k must be >= 1")
        return self._state

    def most_popular(self, k: int = 10) -> list[int]:
        _, _, popularity, _, _ = self._ready(k)
        return popularity[:k]

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        values, binary, popularity, n_users, n_items = self._ready(k)
        if isinstance(user_id, bool) or not isinstance(user_id, numbers.Integral):
            return popularity[:k]
        user = int(user_id)
        if user < 0 or user >= n_users:
            return popularity[:k]
        row = values[[user], :]
        if row.nnz == 0:
            return popularity[:k]
        seen = set(row.indices.tolist())
        v = np.zeros(n_items)
        v[row.indices] = row.data
        per_user = binary @ v                 # how much of u's history each user shares
        scores = binary.T @ per_user          # co-occurrence, weighted by u's values
        candidates = [(-float(scores[j]), j) for j in np.flatnonzero(scores > 0).tolist() if j not in seen]
        best = [item for _, item in heapq.nsmallest(k, candidates)]
        if len(best) < k:
            taken = seen.union(best)
            for item in popularity:
                if len(best) == k:
                    break
                if item not in taken:
                    best.append(item)
        return best

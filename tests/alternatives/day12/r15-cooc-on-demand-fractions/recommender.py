"""Item-item collaborative filtering with a popularity fallback.

This one keeps no item-item matrix at all: the co-occurrence scores of one user are
computed at request time as Bᵀ (B[:, seen] · values), with B the binary user × item
matrix kept by column.
"""

from __future__ import annotations

import operator

import numpy as np
from scipy import sparse

_NOT_FITTED = object()


class ItemItemRecommender:
    def __init__(self) -> None:
        self._state = _NOT_FITTED

    def fit(self, interactions) -> ItemItemRecommender:
        log = sparse.coo_array(interactions)
        values = np.array(log.data, dtype=np.float64)   # always a copy
        by_item = sparse.csc_array((values, (np.array(log.row), np.array(log.col))), shape=log.shape)
        by_item.sum_duplicates()
        if (~np.isfinite(by_item.data)).any() or (by_item.data < 0).any():
            raise ValueError("interactions must be finite and >= 0")
        by_item.eliminate_zeros()
        by_user = by_item.tocsr()
        by_user.sort_indices()
        binary = by_item.copy()
        binary.data[:] = 1.0
        n_users, n_items = log.shape
        users_per_item = np.diff(by_item.indptr)
        ranking = sorted(range(n_items), key=lambda item: (-int(users_per_item[item]), item))
        self._state = {
            "n_users": n_users,
            "n_items": n_items,
            "by_user": by_user,
            "binary": binary,
            "binary_t": binary.T.tocsr(),
            "ranking": ranking,
        }
        return self

    def _ready(self, k):
        if self._state is _NOT_FITTED:
            raise RuntimeError("the recommender is not fitted yet")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        return self._state

    def most_popular(self, k: int = 10) -> list[int]:
        state = self._ready(k)
        return list(state["ranking"][:k])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        state = self._ready(k)
        try:
            user = operator.index(user_id)
        except TypeError:
            return self.most_popular(k)
        if user < 0 or user >= state["n_users"]:
            return self.most_popular(k)
        by_user = state["by_user"]
        lo, hi = by_user.indptr[user], by_user.indptr[user + 1]
        seen = by_user.indices[lo:hi]
        if len(seen) == 0:
            return self.most_popular(k)
        weights = by_user.data[lo:hi]
        per_user = state["binary"][:, seen] @ weights          # n_users
        scores = state["binary_t"] @ per_user                  # n_items
        seen_set = set(seen.tolist())
        positive = [j for j in np.flatnonzero(scores > 0).tolist() if j not in seen_set]
        positive.sort(key=lambda j: (-scores[j], j))
        shown = positive[:k]
        if len(shown) < k:
            skip = seen_set.union(positive)
            for item in state["ranking"]:
                if len(shown) == k:
                    break
                if item not in skip:
                    shown.append(item)
        return shown

"""Item-item collaborative filtering with a popularity fallback.

Style B: no precomputed item-item matrix. A request walks two hops through the data:
the user's items -> the users who saw them (weighted by this user's values) -> the items
those users saw. That is score(j) = sum_i value(user, i) * cooccurrence(i, j), the
co-occurrence count being a similarity positive exactly when two items share a user.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class _Fitted:
    rows: sparse.csr_array        # users x items, float64 values, no zeros
    item_users: sparse.csr_array  # items x users, 1.0 where the user saw the item
    popularity: np.ndarray        # item ids, most users first, ties by lower id
    n_users: int
    n_items: int


def _as_user(user_id) -> int:
    if isinstance(user_id, (bool, np.bool_)):
        raise TypeError("a user id is an integer, not a bool")
    if isinstance(user_id, np.integer):
        return int(user_id)
    if isinstance(user_id, int):
        return int(user_id)
    raise TypeError(f"a user id is an integer, got {user_id!r}")


class ItemItemRecommender:
    def __init__(self) -> None:
        self._state: _Fitted | None = None
        self._lock = threading.Lock()

    def fit(self, interactions) -> ItemItemRecommender:
        coo = sparse.coo_array(interactions)
        coo = sparse.coo_array(
            (np.array(coo.data, dtype=np.float64), (np.array(coo.row), np.array(coo.col))), shape=coo.shape
        )
        rows = coo.tocsr()
        rows.sum_duplicates()
        bad = ~np.isfinite(rows.data) | (rows.data < 0)
        if bad.any():
            raise ValueError("interaction values must be finite and non-negative")
        rows.eliminate_zeros()
        rows.sort_indices()
        n_users, n_items = (int(s) for s in rows.shape)
        seen = rows.copy()
        seen.data = np.ones_like(seen.data)
        item_users = sparse.csr_array(seen.T)
        counts = np.diff(item_users.indptr)
        popularity = np.argsort(-counts, kind="stable")
        state = _Fitted(rows, item_users, popularity, n_users, n_items)
        with self._lock:
            self._state = state
        return self

    def _current(self) -> _Fitted:
        state = self._state
        if state is None:
            raise RuntimeError("the recommender is not fitted yet")
        return state

    @staticmethod
    def _k(k) -> int:
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise ValueError(f"k must be an integer, got {k!r}")
        if k < 1:
            raise ValueError("k must be at least 1")
        return int(k)

    @staticmethod
    def _popular(state: _Fitted, k: int) -> list[int]:
        return [int(item) for item in state.popularity[:k]]

    def most_popular(self, k: int = 10) -> list[int]:
        state = self._current()
        return self._popular(state, self._k(k))

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        state = self._current()
        k = self._k(k)
        user = _as_user(user_id)
        if not 0 <= user < state.n_users:
            return self._popular(state, k)
        lo, hi = int(state.rows.indptr[user]), int(state.rows.indptr[user + 1])
        if lo == hi:
            return self._popular(state, k)
        seen_items = state.rows.indices[lo:hi]
        values = state.rows.data[lo:hi]
        # hop 1: how much each other user overlaps this user's history, weighted by this user's values
        user_weights = state.item_users[seen_items].T @ values
        # hop 2: every item those users saw gets their weights
        scores = state.item_users @ user_weights
        seen_set = set(seen_items.tolist())
        positive = [j for j in np.flatnonzero(scores > 0).tolist() if j not in seen_set]
        positive.sort(key=lambda j: (-scores[j], j))
        shown = positive[:k]
        if len(shown) < k:
            taken = seen_set.union(positive)
            for item in state.popularity.tolist():
                if len(shown) == k:
                    break
                if item not in taken:
                    shown.append(item)
        return shown

"""Item-item recommender with co-occurrence counts, scored with plain Python dicts."""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class _Fitted:
    n_users: int
    n_items: int
    histories: tuple            # per user: dict item -> value (float)
    neighbours: tuple           # per item: dict item -> number of shared users
    by_popularity: tuple        # item ids, most users first, then lower id


class ItemItemRecommender:
    def __init__(self) -> None:
        self._state: _Fitted | None = None

    def fit(self, interactions) -> ItemItemRecommender:
        log = sparse.coo_array(interactions)
        cells = sparse.csr_array(
            (log.data.astype(np.float64), (log.row.copy(), log.col.copy())), shape=log.shape
        )  # duplicates summed here, in float64
        values = cells.data
        if np.isnan(values).any() or np.isinf(values).any() or (values < 0).any():
            raise ValueError("interactions must be finite and >= 0")
        cells.eliminate_zeros()
        n_users, n_items = cells.shape
        histories = tuple(
            {int(i): float(v) for i, v in zip(cells.indices[cells.indptr[u]:cells.indptr[u + 1]],
                                               cells.data[cells.indptr[u]:cells.indptr[u + 1]])}
            for u in range(n_users)
        )
        seen = cells.copy()
        seen.data = np.ones_like(seen.data)
        co = (seen.T @ seen).tocsr()
        neighbours = tuple(
            {int(j): float(c) for j, c in zip(co.indices[co.indptr[i]:co.indptr[i + 1]],
                                               co.data[co.indptr[i]:co.indptr[i + 1]]) if j != i}
            for i in range(n_items)
        )
        users_per_item = np.zeros(n_items, dtype=np.int64)
        for history in histories:
            for item in history:
                users_per_item[item] += 1
        counts = users_per_item.tolist()
        by_popularity = tuple(sorted(range(n_items), key=lambda item: (-counts[item], item)))
        self._state = _Fitted(n_users, n_items, histories, neighbours, by_popularity)
        return self

    def _ready(self, k) -> _Fitted:
        if self._state is None:
            raise RuntimeError("the recommender is not fitted yet")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        return self._state

    def most_popular(self, k: int = 10) -> list[int]:
        state = self._ready(k)
        return list(state.by_popularity[: int(k)])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        state = self._ready(k)
        k = int(k)
        try:
            user = operator.index(user_id)
        except TypeError:
            return self.most_popular(k)
        if not 0 <= user < state.n_users or not state.histories[user]:
            return self.most_popular(k)
        history = state.histories[user]
        scores: dict[int, float] = {}
        for item, value in history.items():
            for other, shared in state.neighbours[item].items():
                if other not in history:
                    scores[other] = scores.get(other, 0.0) + value * shared
        ranked = sorted((item for item, score in scores.items() if score > 0), key=lambda j: (-scores[j], j))
        shown = ranked[:k]
        if len(shown) < k:
            taken = set(ranked)
            for item in state.by_popularity:
                if len(shown) >= k:
                    break
                if item not in history and item not in taken:
                    shown.append(item)
        return shown

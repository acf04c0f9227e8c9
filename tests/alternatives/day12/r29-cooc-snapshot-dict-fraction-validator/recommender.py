"""Item-item recommender: co-occurrence counts, an immutable snapshot per fit, Python sorting."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class _Model:
    n_users: int
    n_items: int
    histories: tuple          # per user: dict item -> value
    cooccurrence: sparse.csr_array   # binary item x item co-occurrence counts
    popularity: tuple         # item ids, most users first


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model: _Model | None = None

    def fit(self, interactions) -> ItemItemRecommender:
        coo = sparse.coo_array(interactions)
        values = np.asarray(coo.data, dtype=np.float64)
        log = sparse.coo_array((values, (coo.row.copy(), coo.col.copy())), shape=coo.shape).tocsr()
        log.sum_duplicates()
        if np.isnan(log.data).any() or np.isinf(log.data).any() or (log.data < 0).any():
            raise ValueError("values must be finite and non-negative")
        log.eliminate_zeros()
        n_users, n_items = log.shape
        histories = tuple(
            dict(zip(log.indices[log.indptr[u]:log.indptr[u + 1]].tolist(),
                     log.data[log.indptr[u]:log.indptr[u + 1]].tolist()))
            for u in range(n_users)
        )
        binary = log.copy()
        binary.data = np.ones_like(binary.data)
        cooccurrence = (binary.T.tocsr() @ binary).tocsr()
        users = np.diff(binary.tocsc().indptr)
        popularity = tuple(sorted(range(n_items), key=lambda item: (-int(users[item]), item)))
        self._model = _Model(n_users, n_items, histories, cooccurrence, popularity)
        return self

    def _ready(self, k) -> _Model:
        if self._model is None:
            raise RuntimeError("the recommender is not fitted yet")
        if k < 1:
            raise ValueError("k must be at least 1")
        return self._model

    def most_popular(self, k: int = 10) -> list[int]:
        model = self._ready(k)
        return list(model.popularity[:k])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        model = self._ready(k)
        if not isinstance(user_id, Integral):
            raise TypeError("user_id must be an integer")
        user = int(user_id)
        history = model.histories[user] if 0 <= user < model.n_users else {}
        if not history:
            return list(model.popularity[:k])
        scores: dict[int, float] = {}
        co = model.cooccurrence
        for item, value in history.items():
            row = slice(co.indptr[item], co.indptr[item + 1])
            for other, count in zip(co.indices[row].tolist(), co.data[row].tolist()):
                if other not in history:
                    scores[other] = scores.get(other, 0.0) + value * count
        ranked = sorted((item for item, score in scores.items() if score > 0), key=lambda i: (-scores[i], i))
        shelf = ranked[:k]
        if len(shelf) < k:
            taken = set(ranked)
            for item in model.popularity:
                if len(shelf) >= k:
                    break
                if item not in history and item not in taken:
                    shelf.append(item)
        return shelf

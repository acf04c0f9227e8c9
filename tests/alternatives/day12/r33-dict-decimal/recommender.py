"""Item-item CF in plain Python structures: per-user histories as dicts, co-occurrence
counts as the similarity, an immutable snapshot swapped in at the end of fit."""
from __future__ import annotations

import heapq
import numbers
from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class _Snapshot:
    n_users: int
    n_items: int
    histories: tuple          # user -> dict item -> value
    cooc: sparse.csr_array    # item x item co-occurrence counts (distinct users)
    popular: tuple            # every item id, most users first, ties by id


class ItemItemRecommender:
    def __init__(self) -> None:
        self._snap: _Snapshot | None = None

    def fit(self, interactions) -> "ItemItemRecommender":
        coo = sparse.coo_array(interactions)
        coo = sparse.coo_array((np.array(coo.data, dtype=np.float64), coo.coords), shape=coo.shape)
        csr = coo.tocsr()                     # sums repeated cells, in float64
        data = csr.data
        bad = ~np.isfinite(data) | (data < 0)
        if bad.any():
            raise ValueError("values must be finite and >= 0")
        csr.eliminate_zeros()
        n_users, n_items = csr.shape
        histories = []
        for u in range(n_users):
            lo, hi = int(csr.indptr[u]), int(csr.indptr[u + 1])
            histories.append({int(i): float(v) for i, v in zip(csr.indices[lo:hi], csr.data[lo:hi])})
        binary = csr.copy()
        binary.data[:] = 1.0
        cooc = (binary.T.tocsr() @ binary).tocsr()
        users = [0] * n_items
        for history in histories:
            for item in history:
                users[item] += 1
        popular = tuple(sorted(range(n_items), key=lambda item: (-users[item], item)))
        self._snap = _Snapshot(n_users, n_items, tuple(histories), cooc, popular)
        return self

    def _ready(self, k) -> _Snapshot:
        if self._snap is None:
            raise RuntimeError("the recommender is not fitted")
        if k < 1:
            raise ValueError("k must be >= 1")
        return self._snap

    def most_popular(self, k: int = 10) -> list[int]:
        snap = self._ready(k)
        return list(snap.popular[:k])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        snap = self._ready(k)
        if not isinstance(user_id, numbers.Integral) or not 0 <= int(user_id) < snap.n_users:
            return list(snap.popular[:k])
        history = snap.histories[int(user_id)]
        if not history:
            return list(snap.popular[:k])
        scores: dict[int, float] = {}
        cooc = snap.cooc
        for item, value in history.items():
            lo, hi = cooc.indptr[item], cooc.indptr[item + 1]
            for j, s in zip(cooc.indices[lo:hi].tolist(), cooc.data[lo:hi].tolist()):
                if j not in history and s > 0:
                    scores[j] = scores.get(j, 0.0) + value * s
        best = heapq.nsmallest(k, scores.items(), key=lambda kv: (-kv[1], kv[0]))
        out = [item for item, _ in best]
        if len(out) < k:
            for item in snap.popular:
                if len(out) >= k:
                    break
                if item not in history and item not in scores:
                    out.append(item)
        return out

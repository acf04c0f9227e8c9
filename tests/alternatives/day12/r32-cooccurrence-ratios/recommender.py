"""Item-item CF by co-occurrence counts (style B: one immutable snapshot, CSC popularity, Python sorting)."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._snap = None

    def fit(self, interactions) -> "ItemItemRecommender":
        log = sparse.coo_array(interactions)
        data = np.array(log.data, dtype=np.float64, copy=True)
        bad = ~np.isfinite(data) | (data < 0)
        if bad.any():
            raise ValueError("values must be finite and >= 0")
        n_users, n_items = log.shape
        m = sparse.csr_array((data, (np.array(log.row), np.array(log.col))), shape=(n_users, n_items))
        m.sum_duplicates()
        m.eliminate_zeros()
        binary = m.copy()
        binary.data = np.ones_like(binary.data)
        counts = np.diff(sparse.csc_array(binary).indptr)
        popularity = sorted(range(n_items), key=lambda j: (-int(counts[j]), j))
        cooc = sparse.csr_array(binary.T @ binary)   # users shared by each pair of items
        self._snap = MappingProxyType({
            "m": m, "cooc": cooc, "popularity": tuple(popularity), "n_users": n_users, "n_items": n_items,
        })
        return self

    def _ready(self, k):
        if self._snap is None:
            raise RuntimeError("not fitted")
        if k < 1:
            raise ValueError("k must be at least 1")
        return self._snap

    def most_popular(self, k: int = 10) -> list[int]:
        snap = self._ready(k)
        return list(snap["popularity"][:k])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        snap = self._ready(k)
        if not isinstance(user_id, (int, np.integer)):
            raise TypeError("user ids are integers")
        uid = int(user_id)
        if uid < 0 or uid >= snap["n_users"]:
            return self.most_popular(k)
        row = snap["m"][[uid]]
        seen = set(row.indices.tolist())
        if not seen:
            return self.most_popular(k)
        weights = row.data
        neigh = snap["cooc"][row.indices]          # rows: the user's items
        score = {}
        coo = neigh.tocoo()
        contrib = weights[coo.row] * coo.data
        for j, c in zip(coo.col.tolist(), contrib.tolist()):
            if j not in seen:
                score[j] = score.get(j, 0.0) + c
        ranked = sorted((j for j, s in score.items() if s > 0), key=lambda j: (-score[j], j))[:k]
        out = ranked
        if len(out) < k:
            taken = seen | set(ranked)
            for j in snap["popularity"]:
                if len(out) >= k:
                    break
                if j not in taken:
                    out.append(j)
        return out

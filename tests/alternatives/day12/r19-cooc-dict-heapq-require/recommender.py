from __future__ import annotations
import heapq
import operator
import numpy as np
import scipy.sparse as sp


class ItemItemRecommender:
    """Co-occurrence counts as similarity; rankings via heapq and sorted() with key tuples."""

    def __init__(self) -> None:
        self._state = None

    def fit(self, interactions):
        m = sp.coo_array(interactions).astype(float)
        m = sp.csc_array(m)  # sums duplicates
        m.sum_duplicates()
        data = m.data
        if (~np.isfinite(data)).any() or (data < 0).any():
            raise ValueError("interactions must be finite and >= 0")
        m.eliminate_zeros()
        rows = sp.csr_array(m)
        n_users, n_items = rows.shape
        users_per_item = np.diff(m.indptr)
        popularity = sorted(range(n_items), key=lambda i: (-int(users_per_item[i]), i))
        seen_bin = rows.copy()
        seen_bin.data = np.ones_like(seen_bin.data)
        cooc = (seen_bin.T @ seen_bin).tocsr()
        self._state = {
            "rows": rows,
            "cooc": cooc,
            "popularity": popularity,
            "n_users": n_users,
        }
        return self

    def _ready(self, k):
        if self._state is None:
            raise RuntimeError("fit() first")
        if k < 1:
            raise ValueError("k must be at least 1")
        return self._state

    def most_popular(self, k=10):
        st = self._ready(k)
        return list(st["popularity"][:k])

    def recommend(self, user_id, k=10):
        st = self._ready(k)
        try:
            u = operator.index(user_id)
        except TypeError:
            return self.most_popular(k)
        if u < 0 or u >= st["n_users"]:
            return self.most_popular(k)
        row = st["rows"][[u], :]
        if row.nnz == 0:
            return self.most_popular(k)
        seen = {int(i): float(v) for i, v in zip(row.indices, row.data)}
        cooc = st["cooc"]
        scores: dict[int, float] = {}
        for i, v in seen.items():
            lo, hi = cooc.indptr[i], cooc.indptr[i + 1]
            for j, s in zip(cooc.indices[lo:hi].tolist(), cooc.data[lo:hi].tolist()):
                if j not in seen and s > 0:
                    scores[j] = scores.get(j, 0.0) + v * s
        best = heapq.nsmallest(k, scores.items(), key=lambda kv: (-kv[1], kv[0]))
        out = [j for j, _ in best]
        if len(out) < k:
            chosen = set(out)
            for j in st["popularity"]:
                if len(out) == k:
                    break
                if j not in seen and j not in chosen:
                    out.append(j)
        return out

from __future__ import annotations

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._m = None

    def fit(self, interactions):
        m = sparse.coo_array(interactions).astype(float, copy=True).tocsr()
        m.sum_duplicates()
        if m.data.size and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interactions must be finite and non-negative")
        m.eliminate_zeros()
        n_users, n_items = m.shape
        counts = np.bincount(m.indices, minlength=n_items)
        self._by_pop = np.lexsort((np.arange(n_items), -counts))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0))).ravel()
        inv = np.zeros_like(norms)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normed = sparse.csr_array(m @ sparse.diags_array(inv))
        self._sim = sparse.csr_array(normed.T @ normed)
        self._m = m
        return self

    def _check(self, k):
        if self._m is None:
            raise RuntimeError("fit first")
        if k < 1:
            raise ValueError("k must be >= 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._check(k)
        return self._by_pop[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._check(k)
        m = self._m
        if not (0 <= user_id < m.shape[0]):
            return self.most_popular(k)
        user_id = int(user_id)   # np.uint8(255) + 1 would wrap round to 0
        start, end = m.indptr[user_id], m.indptr[user_id + 1]
        if start == end:
            return self.most_popular(k)
        seen, values = m.indices[start:end], m.data[start:end]
        scores = np.asarray(self._sim[seen].T @ values).ravel()
        scores[seen] = 0
        ids = np.arange(m.shape[1])
        cand = np.flatnonzero(scores > 0)
        cand = cand[np.lexsort((cand, -scores[cand]))][:k].tolist()
        if len(cand) < k:
            taken = set(cand) | set(seen.tolist())
            for item in self._by_pop.tolist():
                if len(cand) >= k:
                    break
                if item not in taken:
                    cand.append(item)
        return [int(i) for i in cand]

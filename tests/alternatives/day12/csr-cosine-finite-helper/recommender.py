from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._m = None
        self._pop = None
        self._sim = None

    def fit(self, interactions) -> "ItemItemRecommender":
        m = sparse.coo_array(interactions).astype(float, copy=True).tocsr()
        m.sum_duplicates()
        if m.data.size and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interactions must be finite and non-negative")
        m.eliminate_zeros()
        n_items = m.shape[1]
        counts = np.bincount(m.indices, minlength=n_items)
        pop = np.lexsort((np.arange(n_items), -counts))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inv = np.zeros_like(norms)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normed = (m @ sparse.diags_array(inv)).tocsc()
        sim = (normed.T @ normed).tocsr()
        self._m, self._pop, self._sim = m, pop, sim
        return self

    def _check(self, k):
        if self._m is None:
            raise RuntimeError("fit first")
        if k < 1:
            raise ValueError("k must be >= 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._check(k)
        return self._pop[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._check(k)
        m = self._m
        if not isinstance(user_id, numbers.Integral) or not (0 <= user_id < m.shape[0]):
            return self.most_popular(k)
        u = int(user_id)
        seen = m.indices[m.indptr[u]:m.indptr[u + 1]]
        values = m.data[m.indptr[u]:m.indptr[u + 1]]
        if seen.size == 0:
            return self.most_popular(k)
        scores = np.asarray(self._sim[seen].T @ values).ravel()
        scores[seen] = 0
        ids = np.arange(scores.size)
        cand = ids[scores > 0]
        cand = cand[np.lexsort((cand, -scores[cand]))][:k]
        out = cand.tolist()
        if len(out) < k:
            taken = set(out) | set(seen.tolist())
            for item in self._pop.tolist():
                if len(out) >= k:
                    break
                if item not in taken:
                    out.append(item)
        return out

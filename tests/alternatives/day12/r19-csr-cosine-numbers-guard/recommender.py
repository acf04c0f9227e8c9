from __future__ import annotations
import numbers
import numpy as np
import scipy.sparse as sp


class ItemItemRecommender:
    def __init__(self) -> None:
        self._m = None
        self._sim = None
        self._order = None
        self._n_users = 0
        self._n_items = 0

    def fit(self, interactions) -> "ItemItemRecommender":
        m = sp.coo_array(interactions).astype(np.float64).tocsr()
        m.sum_duplicates()
        if m.data.size and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("values must be finite and non-negative")
        m.eliminate_zeros()
        n_users, n_items = m.shape
        counts = np.bincount(m.indices, minlength=n_items)
        order = np.lexsort((np.arange(n_items), -counts))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inv = np.zeros_like(norms)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normed = (m @ sp.diags_array(inv)).tocsc()
        sim = (normed.T @ normed).tocsr()
        self._m, self._sim, self._order = m, sim, order
        self._n_users, self._n_items = n_users, n_items
        return self

    def _check(self, k):
        if self._m is None:
            raise RuntimeError("not fitted")
        if not k >= 1:
            raise ValueError("k must be >= 1")

    def most_popular(self, k: int = 10) -> list[int]:
        self._check(k)
        return [int(i) for i in self._order[:k]]

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        self._check(k)
        if not isinstance(user_id, numbers.Integral) or isinstance(user_id, bool):
            return self.most_popular(k)
        u = int(user_id)
        if not 0 <= u < self._n_users:
            return self.most_popular(k)
        m = self._m
        lo, hi = m.indptr[u], m.indptr[u + 1]
        if lo == hi:
            return self.most_popular(k)
        seen = m.indices[lo:hi]
        values = m.data[lo:hi]
        scores = np.asarray(self._sim[seen].T @ values).ravel()
        scores[seen] = 0.0
        cand = np.flatnonzero(scores > 0)
        cand = cand[np.lexsort((cand, -scores[cand]))][:k]
        out = [int(i) for i in cand]
        if len(out) < k:
            taken = np.zeros(self._n_items, dtype=bool)
            taken[seen] = True
            taken[cand] = True
            for i in self._order:
                if len(out) >= k:
                    break
                if not taken[i]:
                    out.append(int(i))
        return out

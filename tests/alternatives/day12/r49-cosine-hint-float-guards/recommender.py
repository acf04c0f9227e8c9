"""Item-item collaborative filtering (cosine, precomputed sparse similarity) with popularity fallback."""

from __future__ import annotations

import operator

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._fitted = False
        self._matrix = None
        self._binary_csc = None
        self._similarity = None
        self._by_popularity = None
        self._n_users = 0
        self._n_items = 0

    def fit(self, interactions) -> ItemItemRecommender:
        coo = sparse.coo_array(interactions)
        data = np.asarray(coo.data)
        if data.dtype.kind in "iu" and data.size and data.min() < 0:
            raise ValueError("negative interaction")
        coo = coo.astype(np.float64)  # copy; duplicates are summed later, in floats
        if not np.all(np.isfinite(coo.data)) or np.any(coo.data < 0):
            raise ValueError("interactions must be finite and >= 0")
        m = coo.tocsr()
        m.sum_duplicates()
        if not np.all(np.isfinite(m.data)):
            raise ValueError("interactions must be finite")
        m.eliminate_zeros()
        m.sort_indices()
        n_users, n_items = m.shape

        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))

        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inv = np.zeros(n_items)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normalised = (m @ sparse.diags_array(inv)).tocsr()
        similarity = (normalised.T @ normalised).tocsr()

        binary = m.copy()
        binary.data = np.ones_like(binary.data)

        self._matrix = m
        self._binary_csc = binary.tocsc()
        self._binary_csr = binary
        self._similarity = similarity
        self._by_popularity = by_popularity
        self._n_users, self._n_items = int(n_users), int(n_items)
        self._fitted = True
        return self

    def _check(self, k) -> int:
        if not self._fitted:
            raise RuntimeError("fit() first")
        k = operator.index(k)
        if k < 1:
            raise ValueError("k must be >= 1")
        return k

    def most_popular(self, k: int = 10) -> list[int]:
        k = self._check(k)
        return [int(i) for i in self._by_popularity[:k]]

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        k = self._check(k)
        u = int(operator.index(user_id))
        m = self._matrix
        if u < 0 or u >= self._n_users:
            return self.most_popular(k)
        start, end = int(m.indptr[u]), int(m.indptr[u + 1])
        if start == end:
            return self.most_popular(k)
        seen = m.indices[start:end]
        values = m.data[start:end]

        scores = np.asarray(self._similarity[seen].T @ values, dtype=np.float64).ravel()
        # candidates: items that share at least one user with the history (structure, not score)
        users = np.unique(self._binary_csc[:, seen].indices)
        cand = np.unique(self._binary_csr[users].indices)
        seen_mask = np.zeros(self._n_items, dtype=bool)
        seen_mask[seen] = True
        cand = cand[~seen_mask[cand]]
        order = np.lexsort((cand, -scores[cand]))
        ranked = cand[order][:k].tolist()
        if len(ranked) < k:
            taken = seen_mask.copy()
            taken[cand] = True
            pop = self._by_popularity
            rest = pop[~taken[pop]]
            ranked.extend(rest[: k - len(ranked)].tolist())
        return [int(i) for i in ranked]

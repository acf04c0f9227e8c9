"""Item-item co-occurrence scoring computed per request (no similarity matrix), popularity fallback."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class _Model:
    by_user: sparse.csr_array      # values, float64, canonical
    seen_by: sparse.csr_array      # 1.0 where a user saw an item
    seen_by_t: sparse.csr_array    # items x users, 1.0
    popularity: np.ndarray         # item ids, most users first, ties by id
    n_users: int
    n_items: int


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model: _Model | None = None

    def fit(self, interactions) -> ItemItemRecommender:
        if sparse.issparse(interactions):
            log = interactions.tocoo(copy=True)
        else:
            log = sparse.coo_array(np.array(interactions))
        values = log.data.astype(np.float64)  # a fresh float64 array
        if np.isnan(values).any() or np.isinf(values).any() or (values < 0).any():
            raise ValueError("interaction values must be finite and non-negative")
        n_users, n_items = log.shape
        summed = sparse.csr_array(
            (values, (np.asarray(log.row, dtype=np.int64), np.asarray(log.col, dtype=np.int64))),
            shape=(n_users, n_items),
        )
        summed.sum_duplicates()
        summed.eliminate_zeros()
        ones = sparse.csr_array(
            (np.ones(summed.nnz), summed.indices.copy(), summed.indptr.copy()), shape=summed.shape
        )
        counts = np.diff(ones.tocsc().indptr)  # distinct users per item
        popularity = np.argsort(-counts, kind="stable")
        self._model = _Model(summed, ones, ones.T.tocsr(), popularity, int(n_users), int(n_items))
        return self

    def _ready(self, k) -> tuple[_Model, int]:
        model = self._model
        if model is None:
            raise RuntimeError("the recommender is not fitted yet")
        if int(k) != k or k < 1:
            raise ValueError("k must be a whole number >= 1")
        return model, int(k)

    def most_popular(self, k: int = 10) -> list[int]:
        model, k = self._ready(k)
        return [int(item) for item in model.popularity[:k]]

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        model, k = self._ready(k)
        user = int(user_id)
        if not 0 <= user < model.n_users:
            return self.most_popular(k)
        row = model.by_user[[user]]
        if row.nnz == 0:
            return self.most_popular(k)
        seen = set(row.indices.tolist())
        # weight of every other user: sum of this user's values over the items they share
        weight = model.seen_by @ row.T.toarray().ravel()
        # score of item j: sum over users of weight(user) for users who saw j  (co-occurrence, value-weighted)
        scores = model.seen_by_t @ weight
        candidates = [j for j in np.flatnonzero(scores > 0).tolist() if j not in seen]
        candidates.sort(key=lambda j: (-scores[j], j))
        shelf = candidates[:k]
        if len(shelf) < k:
            taken = seen | set(shelf)
            for item in model.popularity.tolist():
                if len(shelf) >= k:
                    break
                if item not in taken:
                    shelf.append(item)
        return [int(item) for item in shelf]

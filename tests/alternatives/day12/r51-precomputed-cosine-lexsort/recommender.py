"""Item-item collaborative filtering with a popularity fallback.

Contract (the tests check exactly this):
- `ItemItemRecommender()`; `fit(interactions)` takes any scipy.sparse matrix or array of
  shape (n_users, n_items), row = user id, column = item id, value = interaction
  strength (a nonzero entry means "seen"; a stored zero does not; repeated entries for one
  cell add up, in floats whatever the dtype; float or integer values), and returns the
  recommender itself; fitting again replaces the old model; a fit that raises leaves the
  recommender as it was. The caller's matrix is never changed (not even its stored
  entries), and the model keeps its own copy. Negative
  or non-finite values raise ValueError. Every call returns a new list. `most_popular` / `recommend` before `fit`
  raise RuntimeError; `k < 1` raises ValueError (a cold start too). Integer counts of any
  size work (compute in floats: squared in uint8 or int32 they wrap round).
- `most_popular(k)`: up to k item ids by the number of distinct users who interacted,
  most first; equal counts go to the lower item id.
- `recommend(user_id, k)`: up to k item ids the user has not seen, as plain ints.
  Items sharing at least one user with the user's history (positive similarity) come
  first, all of them (no top-N pruning), by score (sum of cosine similarities to the user's items, weighted by the
  user's values, in float64 and never rounded) descending, equal scores to the lower item id (also when k cuts through them); the rest of the unseen
  items follow in popularity order. The list is min(k, unseen items) long.
  A user id is any integer, numpy integers included. A cold-start user (an id that is not a row, negative ids included, or a row with no
  interactions) gets `most_popular(k)`.
- Memory: fit and recommend on 1,000 x 10,000 data peak under 300 MB (tracemalloc): the
  item-item similarity stays sparse.
"""

from __future__ import annotations

import operator

import numpy as np
import scipy.sparse as sp


class ItemItemRecommender:
    def __init__(self) -> None:
        self._fitted = False
        self._matrix = None
        self._similarity = None
        self._by_popularity = None
        self._n_users = 0
        self._n_items = 0

    def fit(self, interactions) -> ItemItemRecommender:
        """Precompute everything a request needs, so serving is a sparse row lookup and a sort."""
        m = sp.coo_array(interactions).astype(np.float64).tocsr()  # copy, duplicates summed in float64
        m.sum_duplicates()
        if m.data.size and (not np.all(np.isfinite(m.data)) or np.any(m.data < 0)):
            raise ValueError("interactions must be finite and non-negative")
        m.eliminate_zeros()
        n_users, n_items = m.shape
        users_per_item = np.bincount(m.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        inv = np.zeros(n_items, dtype=np.float64)
        np.divide(1.0, norms, out=inv, where=norms > 0)
        normalised = (m @ sp.diags_array(inv)).tocsr()
        similarity = (normalised.T @ normalised).tocsr()
        # commit only once everything succeeded
        self._matrix = m
        self._similarity = similarity
        self._by_popularity = by_popularity
        self._n_users = n_users
        self._n_items = n_items
        self._fitted = True
        return self

    def _check(self, k) -> None:
        if not self._fitted:
            raise RuntimeError("call fit() first")
        if k < 1:
            raise ValueError("k must be at least 1")

    def most_popular(self, k: int = 10) -> list[int]:
        """The cold-start answer and the baseline any personalised model must beat."""
        self._check(k)
        return self._by_popularity[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        """Unseen items, similar ones first, padded with popular ones so the shelf is never short."""
        self._check(k)
        m = self._matrix
        u = operator.index(user_id)
        u = int(u)
        if u < 0 or u >= self._n_users:
            return self.most_popular(k)
        start, end = int(m.indptr[u]), int(m.indptr[u + 1])
        if start == end:
            return self.most_popular(k)
        seen = m.indices[start:end]
        values = m.data[start:end]
        scores = np.asarray(self._similarity[seen].T @ values).ravel()
        scores[seen] = 0.0
        cand = np.flatnonzero(scores > 0)
        order = cand[np.lexsort((cand, -scores[cand]))][:k]
        result = order.tolist()
        if len(result) < k:
            excluded = np.zeros(self._n_items, dtype=bool)
            excluded[seen] = True
            excluded[order] = True
            pop = self._by_popularity
            fill = pop[~excluded[pop]][: k - len(result)]
            result.extend(fill.tolist())
        return result

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
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model = None   # (matrix, similarity, by_popularity) once fitted

    def fit(self, interactions) -> ItemItemRecommender:
        """Precompute everything a request needs, so serving is a sparse row lookup and a sort."""
        matrix = sparse.coo_array(interactions).astype(np.float64).tocsr()   # copy, duplicates summed in float64
        matrix.sum_duplicates()
        data = matrix.data
        if data.size and (not np.all(np.isfinite(data)) or np.any(data < 0)):
            raise ValueError("interactions must be finite and non-negative")
        matrix.eliminate_zeros()
        matrix.sort_indices()
        n_items = matrix.shape[1]
        users_per_item = np.bincount(matrix.indices, minlength=n_items)
        by_popularity = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
        inverse = np.zeros(n_items)
        np.divide(1.0, norms, out=inverse, where=norms > 0)
        normalised = (matrix @ sparse.diags_array(inverse)).tocsr()
        similarity = (normalised.T @ normalised).tocsr()
        similarity.eliminate_zeros()
        self._model = (matrix, similarity, by_popularity)
        return self

    def _fitted(self):
        if self._model is None:
            raise RuntimeError("fit() the recommender first")
        return self._model

    @staticmethod
    def _check_k(k):
        if k < 1:
            raise ValueError("k must be at least 1")

    def most_popular(self, k: int = 10) -> list[int]:
        """The cold-start answer and the baseline any personalised model must beat."""
        _, _, by_popularity = self._fitted()
        self._check_k(k)
        return by_popularity[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        """Unseen items, similar ones first, padded with popular ones so the shelf is never short."""
        matrix, similarity, by_popularity = self._fitted()
        self._check_k(k)
        user = operator.index(user_id)
        user = int(user)
        n_users, n_items = matrix.shape
        if user < 0 or user >= n_users:
            return by_popularity[:k].tolist()
        start, end = int(matrix.indptr[user]), int(matrix.indptr[user + 1])
        if start == end:
            return by_popularity[:k].tolist()
        seen = matrix.indices[start:end]
        values = matrix.data[start:end]
        scores = np.asarray(similarity[seen].T @ values).ravel()
        excluded = np.zeros(n_items, dtype=bool)
        excluded[seen] = True
        candidates = np.flatnonzero((scores > 0) & ~excluded)
        order = np.lexsort((candidates, -scores[candidates]))
        chosen = candidates[order][:k]
        if len(chosen) < k:
            excluded[candidates] = True
            padding = by_popularity[~excluded[by_popularity]][: k - len(chosen)]
            chosen = np.concatenate([chosen, padding])
        return [int(item) for item in chosen]

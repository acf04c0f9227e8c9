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
  user's values) descending, equal scores to the lower item id (also when k cuts through them); the rest of the unseen
  items follow in popularity order. The list is min(k, unseen items) long.
  A user id is any integer, numpy integers included. A cold-start user (an id that is not a row, negative ids included, or a row with no
  interactions) gets `most_popular(k)`.
- Memory: fit and recommend on 1,000 x 10,000 data peak under 300 MB (tracemalloc): the
  item-item similarity stays sparse.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


class ItemItemRecommender:
    def __init__(self) -> None:
        self._interactions: sparse.csr_array | None = None
        self._similarity: sparse.csr_array | None = None
        self._by_popularity: np.ndarray | None = None

    def fit(self, interactions) -> ItemItemRecommender:
        """Precompute everything a request needs, so serving is a sparse row lookup and a sort."""
        # Cast before converting: CSR conversion sums a COO log's repeated cells in the log's own dtype
        # (256 uint8 ones wrap round to 0). astype also copies, so the caller's arrays are never shared.
        matrix = sparse.coo_array(interactions).astype(np.float64, copy=True).tocsr()
        matrix.sum_duplicates()
        if not np.all(np.isfinite(matrix.data)) or np.any(matrix.data < 0):
            raise ValueError("interaction values must be finite and non-negative (counts or strengths)")
        matrix.eliminate_zeros()
        n_items = matrix.shape[1]
        users_per_item = np.bincount(matrix.indices, minlength=n_items)
        # lexsort sorts by the last key first: most users, then the lower item id.
        self._by_popularity = np.lexsort((np.arange(n_items), -users_per_item))
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        normalised = matrix @ sparse.diags_array(inverse)
        # Sparse on purpose: a dense 10,000 x 10,000 float64 matrix would take 800 MB.
        self._similarity = sparse.csr_array(normalised.T @ normalised)
        self._interactions = matrix
        return self

    def most_popular(self, k: int = 10) -> list[int]:
        """The cold-start answer and the baseline any personalised model must beat."""
        self._check_ready(k)
        return self._by_popularity[:k].tolist()

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        """Unseen items, similar ones first, padded with popular ones so the shelf is never short."""
        self._check_ready(k)
        row = self._row_of(user_id)
        if row is None:
            return self.most_popular(k)
        start, end = self._interactions.indptr[row], self._interactions.indptr[row + 1]
        seen = self._interactions.indices[start:end]
        weights = self._interactions.data[start:end]
        scores = self._similarity[seen].T @ weights
        scores[seen] = 0.0
        candidates = np.flatnonzero(scores > 0)
        ranked = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
        if len(ranked) < k:
            taken = np.zeros(len(scores), dtype=bool)
            taken[seen] = True
            taken[ranked] = True
            fill = self._by_popularity[~taken[self._by_popularity]]
            ranked = np.concatenate([ranked, fill[: k - len(ranked)]])
        return ranked.tolist()

    def _row_of(self, user_id: int) -> int | None:
        """The user's row, or None for a cold start; never let -1 mean "the last user"."""
        n_users = self._interactions.shape[0]
        if not isinstance(user_id, (int, np.integer)) or not 0 <= user_id < n_users:
            return None
        row = int(user_id)   # a Python int: np.uint8(255) + 1 would wrap round to 0
        if self._interactions.indptr[row] == self._interactions.indptr[row + 1]:
            return None
        return row

    def _check_ready(self, k: int) -> None:
        if self._interactions is None:
            raise RuntimeError("call fit() before asking for recommendations")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")

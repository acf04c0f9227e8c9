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

import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class _Model:
    by_user: sp.csr_array      # raw values, one row per user
    normalised: sp.csc_array   # columns of unit length
    normalised_rows: sp.csr_array
    popularity: np.ndarray     # item ids, most users first, ties to the lower id
    n_users: int
    n_items: int


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model: _Model | None = None

    @staticmethod
    def _to_float_csr(interactions) -> sp.csr_array:
        if sp.issparse(interactions):
            coo = interactions.tocoo()
        else:
            coo = sp.coo_array(np.asarray(interactions))
        n_users, n_items = coo.shape
        rows = np.array(coo.row, dtype=np.int64, copy=True)
        cols = np.array(coo.col, dtype=np.int64, copy=True)
        data = np.array(coo.data, dtype=np.float64, copy=True)   # cast before summing
        return sp.csr_array((data, (rows, cols)), shape=(n_users, n_items))

    def fit(self, interactions) -> ItemItemRecommender:
        m = self._to_float_csr(interactions)
        m.sum_duplicates()
        bad = ~np.isfinite(m.data) | (m.data < 0)
        if bad.any():
            raise ValueError("interaction values must be finite and >= 0")
        m.eliminate_zeros()
        n_users, n_items = m.shape
        csc = m.tocsc()
        users_per_item = np.diff(csc.indptr)
        # stable sort on -count keeps equal counts in id order
        popularity = np.argsort(-users_per_item, kind="stable")
        norms = np.sqrt(np.asarray((csc.power(2)).sum(axis=0), dtype=np.float64).ravel())
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        normalised = csc.multiply(scale.reshape(1, -1)).tocsc()
        self._model = _Model(
            by_user=m,
            normalised=normalised,
            normalised_rows=normalised.tocsr(),
            popularity=popularity,
            n_users=n_users,
            n_items=n_items,
        )
        return self

    def _ready(self, k) -> _Model:
        model = self._model
        if model is None:
            raise RuntimeError("the recommender is not fitted yet")
        if k < 1:
            raise ValueError("k must be >= 1")
        return model

    def most_popular(self, k: int = 10) -> list[int]:
        model = self._ready(k)
        return [int(i) for i in model.popularity[:k]]

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        model = self._ready(k)
        if not isinstance(user_id, (numbers.Integral, np.integer)):
            return model.popularity[:k].tolist()
        u = int(user_id)
        if not 0 <= u < model.n_users:
            return model.popularity[:k].tolist()
        row = model.by_user[[u], :]
        seen = row.indices
        if seen.size == 0:
            return model.popularity[:k].tolist()
        values = row.data
        # score_j = sum_i v_i cos(i, j) = sum_u N[u, j] * (sum_i N[u, i] v_i)
        per_user = model.normalised[:, seen] @ values
        scores = np.asarray(model.normalised_rows.T @ per_user, dtype=np.float64).ravel()
        seen_set = set(seen.tolist())
        ranked = sorted(
            (j for j in np.flatnonzero(scores > 0).tolist() if j not in seen_set),
            key=lambda j: (-scores[j], j),
        )
        out = ranked[:k]
        if len(out) < k:
            taken = seen_set.union(out)
            for j in model.popularity.tolist():
                if len(out) >= k:
                    break
                if j not in taken:
                    out.append(j)
        return out

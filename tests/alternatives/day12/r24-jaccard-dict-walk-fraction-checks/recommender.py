"""Item-item recommender: Jaccard similarity on who-saw-what, scores accumulated per request."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class _Model:
    rows: list            # per user: dict item -> value (seen items only)
    neighbours: sparse.csr_array   # item x item Jaccard similarity, sparse
    popularity: tuple     # every item id, most users first, ties by id


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model: _Model | None = None

    def fit(self, interactions) -> ItemItemRecommender:
        coo = sparse.coo_array(interactions)
        values = np.array(coo.data, dtype=np.float64)  # our own float copy
        if values.size and not (np.isfinite(values).all() and (values >= 0).all()):
            raise ValueError("values must be finite and >= 0")
        n_users, n_items = coo.shape
        summed = sparse.csr_array(
            (values, (np.array(coo.row, dtype=np.int64), np.array(coo.col, dtype=np.int64))),
            shape=(n_users, n_items),
        )  # repeated cells summed in float64
        summed.sum_duplicates()
        if summed.nnz and not (np.isfinite(summed.data).all() and (summed.data >= 0).all()):
            raise ValueError("values must be finite and >= 0")
        summed.eliminate_zeros()
        rows = [
            dict(zip(summed.indices[summed.indptr[u]:summed.indptr[u + 1]].tolist(),
                     summed.data[summed.indptr[u]:summed.indptr[u + 1]].tolist()))
            for u in range(n_users)
        ]
        binary = summed.copy()
        binary.data[:] = 1.0
        users = np.asarray(binary.sum(axis=0)).ravel()
        together = (binary.T @ binary).tocoo()
        union = users[together.row] + users[together.col] - together.data
        jaccard = sparse.csr_array((together.data / union, (together.row, together.col)), shape=(n_items, n_items))
        popularity = tuple(sorted(range(n_items), key=lambda item: (-users[item], item)))
        self._model = _Model(rows, jaccard, popularity)
        return self

    def _require(self, k) -> _Model:
        if self._model is None:
            raise RuntimeError("the recommender is not fitted")
        if k < 1:
            raise ValueError("k must be at least 1")
        return self._model

    def most_popular(self, k: int = 10) -> list[int]:
        model = self._require(k)
        return list(model.popularity[:k])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        model = self._require(k)
        if not isinstance(user_id, (int, np.integer)) or not 0 <= int(user_id) < len(model.rows):
            return self.most_popular(k)
        history = model.rows[int(user_id)]
        if not history:
            return self.most_popular(k)
        scores: dict[int, float] = {}
        nb = model.neighbours
        for item, value in history.items():
            lo, hi = nb.indptr[item], nb.indptr[item + 1]
            for other, sim in zip(nb.indices[lo:hi].tolist(), nb.data[lo:hi].tolist()):
                if other not in history and sim > 0:
                    scores[other] = scores.get(other, 0.0) + value * sim
        ranked = sorted((item for item, s in scores.items() if s > 0), key=lambda item: (-scores[item], item))
        shown = ranked[:k]
        if len(shown) < k:
            taken = set(shown)
            for item in model.popularity:
                if len(shown) >= k:
                    break
                if item not in history and item not in taken:
                    shown.append(item)
        return shown

"""Item-item CF, second style: old spmatrix API, CSC for popularity, row-times-matrix scoring,
Python tuple sort for the ranking."""

from __future__ import annotations

import operator

import numpy as np
import scipy.sparse as sp


def _as_int(x, what: str) -> int:
    if isinstance(x, float) and x.is_integer():
        return int(x)
    if isinstance(x, (bool, np.bool_)):
        raise ValueError(f"{what} must be an integer")
    try:
        return operator.index(x)
    except TypeError:
        raise ValueError(f"{what} must be an integer") from None


class ItemItemRecommender:
    def __init__(self) -> None:
        self._model = None  # (csr, similarity, popularity order)

    def fit(self, interactions) -> ItemItemRecommender:
        coo = sp.coo_matrix(interactions)
        data = np.array(coo.data, dtype=np.float64)  # copy, cast before summing
        csr = sp.csr_matrix(
            (data, (np.array(coo.row), np.array(coo.col))), shape=coo.shape, dtype=np.float64
        )
        csr.sum_duplicates()
        if not np.isfinite(csr.data).all():
            raise ValueError("NaN or infinite interaction")
        if (csr.data < 0).any():
            raise ValueError("negative interaction")
        csr.eliminate_zeros()
        n_items = csr.shape[1]
        csc = csr.tocsc()
        users_per_item = np.diff(csc.indptr)
        popularity = sorted(range(n_items), key=lambda j: (-int(users_per_item[j]), j))
        popularity = np.array(popularity, dtype=np.int64)
        # normalise every column of the CSC copy to unit length
        sq = csc.copy()
        sq.data = sq.data**2
        norms = np.sqrt(np.asarray(sq.sum(axis=0)).ravel())
        col_of_entry = np.repeat(np.arange(n_items), users_per_item)
        csc.data = csc.data / norms[col_of_entry]
        similarity = sp.csr_matrix(csc.T.tocsr() @ csc.tocsr())
        self._model = (csr, similarity, popularity)
        return self

    def _require(self):
        if self._model is None:
            raise RuntimeError("recommender is not fitted")
        return self._model

    def most_popular(self, k: int = 10) -> list[int]:
        _, _, popularity = self._require()
        k = _as_int(k, "k")
        if k < 1:
            raise ValueError("k must be >= 1")
        return [int(j) for j in popularity[:k]]

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        csr, similarity, popularity = self._require()
        k = _as_int(k, "k")
        if k < 1:
            raise ValueError("k must be >= 1")
        u = _as_int(user_id, "user_id")
        if not 0 <= u < csr.shape[0]:
            return self.most_popular(k)
        row = csr.getrow(u)
        if row.nnz == 0:
            return self.most_popular(k)
        seen = set(row.indices.tolist())
        scores = (row @ similarity).tocoo()
        ranked = sorted(
            (-float(s), int(j)) for j, s in zip(scores.col, scores.data) if s > 0 and int(j) not in seen
        )
        out = [j for _, j in ranked[:k]]
        if len(out) < k:
            used = seen | set(out)
            for j in popularity:
                if len(out) >= k:
                    break
                j = int(j)
                if j not in used:
                    out.append(j)
        return out

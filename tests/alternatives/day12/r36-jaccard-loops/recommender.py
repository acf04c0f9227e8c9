"""Item-item recommender with Jaccard similarity; histories as Python dicts, scores accumulated per item."""

from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse


class _Fitted:
    """Everything one fit learnt; replaced as a whole, never edited after it is built."""

    def __init__(self, histories, neighbours, popularity, n_items):
        self.histories = histories      # user -> {item: value}
        self.neighbours = neighbours    # item -> (neighbour ids, Jaccard similarities)
        self.popularity = popularity    # tuple of item ids, most users first
        self.n_items = n_items


class ItemItemRecommender:
    def __init__(self) -> None:
        self.fitted: _Fitted | None = None

    def fit(self, interactions) -> ItemItemRecommender:
        log = sparse.coo_array(interactions)
        n_users, n_items = log.shape
        values = np.array(log.data, dtype=np.float64)          # a copy, cast before anything is summed
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} interaction values are negative or not finite")
        cells = sparse.csr_array(
            (values, (np.array(log.row), np.array(log.col))), shape=(n_users, n_items)
        )   # duplicates add up in float64
        cells.sum_duplicates()
        cells.eliminate_zeros()

        histories = {}
        for user in range(n_users):
            start, end = cells.indptr[user], cells.indptr[user + 1]
            if end > start:
                histories[user] = dict(zip(cells.indices[start:end].tolist(), cells.data[start:end].tolist()))

        seen = cells.copy()
        seen.data = np.ones_like(seen.data)
        users_per_item = np.asarray(seen.sum(axis=0)).ravel().astype(np.int64)
        popularity = tuple(sorted(range(n_items), key=lambda item: (-users_per_item[item], item)))

        together = (seen.T @ seen).tocoo()   # how many users each pair of items shares
        union = users_per_item[together.row] + users_per_item[together.col] - together.data
        jaccard = sparse.csr_array(
            (together.data / union, (together.row, together.col)), shape=(n_items, n_items)
        )
        neighbours = {}
        for item in range(n_items):
            start, end = jaccard.indptr[item], jaccard.indptr[item + 1]
            if end > start:
                neighbours[item] = (jaccard.indices[start:end], jaccard.data[start:end])

        self.fitted = _Fitted(histories, neighbours, popularity, n_items)
        return self

    def _model(self) -> _Fitted:
        if self.fitted is None:
            raise RuntimeError("the recommender is not fitted yet")
        return self.fitted

    @staticmethod
    def _check_k(k) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")

    def most_popular(self, k: int = 10) -> list[int]:
        model = self._model()
        self._check_k(k)
        return list(model.popularity[:k])

    def recommend(self, user_id: int, k: int = 10) -> list[int]:
        model = self._model()
        self._check_k(k)
        if not isinstance(user_id, numbers.Integral) or isinstance(user_id, bool):
            return list(model.popularity[:k])
        history = model.histories.get(int(user_id))
        if not history:
            return list(model.popularity[:k])
        scores = np.zeros(model.n_items)
        for item, value in history.items():
            if item in model.neighbours:
                ids, similarities = model.neighbours[item]
                scores[ids] += value * similarities
        linked = [item for item in np.flatnonzero(scores > 0).tolist() if item not in history]
        linked.sort(key=lambda item: (-scores[item], item))
        shown = linked[:k]
        if len(shown) < k:
            chosen = set(shown)
            for item in model.popularity:
                if len(shown) == k:
                    break
                if item not in history and item not in chosen:
                    shown.append(item)
        return shown

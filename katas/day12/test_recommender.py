"""Day 12, tasks 1 and 2: the recommender. Read these tests as the specification.

The small examples are built so that every sensible similarity (cosine, Jaccard, raw
co-occurrence counts) gives the same ranking: the tests pin the contract, not the
reference's choice of similarity.
"""

import json
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy import sparse

from mlops_katas.interleave import switching_threads
from recommender import ItemItemRecommender

N_USERS, N_ITEMS = 1_000, 10_000
N_CLUSTERS, CLUSTER_SIZE = 50, 20
SEEN_PER_USER, HELD_OUT_PER_USER, NOISE_PER_USER = 12, 4, 3
RECALL_AT_10_BOUND = 0.5
PEAK_MEMORY_BOUND_MB = 300


def interactions(histories, n_items, fmt=sparse.csr_array):
    """A users × items matrix: row u holds a 1 (or the given count) for each item in histories[u]."""
    rows, cols, values = [], [], []
    for user, history in enumerate(histories):
        items = history.items() if isinstance(history, dict) else ((item, 1.0) for item in history)
        for item, value in items:
            rows.append(user)
            cols.append(item)
            values.append(value)
    coo = sparse.coo_array((values, (rows, cols)), shape=(len(histories), n_items))
    return fmt(coo)


def fitted(histories, n_items, fmt=sparse.csr_array):
    return ItemItemRecommender().fit(interactions(histories, n_items, fmt))


def csr_with_repeated_cells(data, rows, cols, shape):
    """A CSR matrix that keeps repeated (user, item) entries as they come, as a COO log does; scipy adds them up."""
    order = np.argsort(rows, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(np.asarray(rows), minlength=shape[0]))])
    return sparse.csr_array((np.asarray(data)[order], np.asarray(cols)[order], indptr), shape=shape)


@pytest.fixture(scope="module")
def planted_data():
    """1,000 users × 10,000 items with planted taste clusters, some history held out.

    Each user belongs to one of 50 clusters of 20 items scattered over the catalogue,
    has seen 12 of their cluster's items, of which 4 are held out of training, plus 3
    random items from outside any cluster. A popularity list knows nothing of clusters
    and scores near 0 on the held-out items; item-item similarity finds them.
    """
    rng = np.random.default_rng(12)
    clusters = rng.permutation(N_ITEMS)[: N_CLUSTERS * CLUSTER_SIZE].reshape(N_CLUSTERS, CLUSTER_SIZE)
    outside = np.setdiff1d(np.arange(N_ITEMS), clusters.ravel())
    train, held_out = [], []
    for user in range(N_USERS):
        liked = rng.choice(clusters[user % N_CLUSTERS], SEEN_PER_USER, replace=False)
        noise = rng.choice(outside, NOISE_PER_USER, replace=False)
        history = np.concatenate([liked[HELD_OUT_PER_USER:], noise])
        train.append({int(item): float(rng.integers(1, 4)) for item in history})
        held_out.append({int(item) for item in liked[:HELD_OUT_PER_USER]})
    return interactions(train, N_ITEMS), train, held_out


@pytest.fixture(scope="module")
def planted(planted_data):
    matrix, train, held_out = planted_data
    return ItemItemRecommender().fit(matrix), train, held_out


# --- task 1: fit and the popularity baseline --------------------------------------------


@pytest.mark.task(taskno=1)
def test_fit_returns_the_recommender_itself():
    model = ItemItemRecommender()
    assert model.fit(interactions([[0]], 3)) is model, "fit() should return the recommender so calls can chain"


@pytest.mark.task(taskno=1)
def test_most_popular_ranks_items_by_how_many_users_interacted():
    model = fitted([[2, 3], [3], [3, 4], [4]], 6)
    assert model.most_popular(3) == [3, 4, 2], (
        "item 3 has 3 users, item 4 has 2, item 2 has 1: most_popular(3) should be [3, 4, 2]"
    )


@pytest.mark.task(taskno=1)
def test_popularity_counts_users_not_interaction_volume():
    model = fitted([{1: 50.0}, {2: 1.0}, {2: 1.0}], 4)
    assert model.most_popular(1) == [2], (
        "one user with 50 plays of item 1 is less popular than item 2 with two users: "
        "popularity counts distinct users"
    )


@pytest.mark.task(taskno=1)
def test_equal_popularity_goes_to_the_lower_item_id():
    model = fitted([[7], [5], [2], [9, 5]], 10)
    assert model.most_popular(4) == [5, 2, 7, 9], (
        "item 5 has two users; items 2, 7 and 9 have one each and must follow in id order: [5, 2, 7, 9]"
    )


@pytest.mark.task(taskno=1)
def test_most_popular_with_k_beyond_the_catalogue_returns_every_item_once():
    model = fitted([[1], [1, 3]], 4)
    assert model.most_popular(10) == [1, 3, 0, 2], (
        "with 4 items, most_popular(10) should return all 4, by users then by id: [1, 3, 0, 2]"
    )


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize(
    "fmt",
    [sparse.coo_array, sparse.csc_array, sparse.csr_matrix, sparse.coo_matrix, sparse.lil_array, sparse.lil_matrix,
     sparse.dok_array, sparse.bsr_array],
    ids=["coo_array", "csc_array", "csr_matrix", "coo_matrix", "lil_array", "lil_matrix", "dok_array", "bsr_array"],
)
def test_fit_accepts_any_scipy_sparse_format(fmt):
    model = fitted([{2: 1.0, 3: 2.0}, [3], [3, 4], [4], {0: 1.0, 3: 3.0}], 6, fmt)
    assert model.most_popular(3) == [3, 4, 0], f"fit() should work the same on a {fmt.__name__}"
    assert model.recommend(0, 2) == [0, 4], (
        f"fit() on a {fmt.__name__} (a matrix built cell by cell, say) should give the same recommendations: "
        "[0, 4]"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_integer_counts_work_like_float_values(dtype):
    # The weighted example of test_a_stronger_interaction_weighs_more_in_the_score, as play counts.
    counts = sparse.csr_array(np.array([[1, 3, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1]], dtype=dtype))
    model = ItemItemRecommender().fit(counts)
    assert model.most_popular(4) == [0, 1, 2, 3], f"popularity from {dtype.__name__} counts: [0, 1, 2, 3]"
    assert model.recommend(0, 2) == [3, 2], (
        f"interaction counts stored as {dtype.__name__} (a count matrix) are values like any other: "
        "item 3, next to the item played 3 times, comes before item 2: [3, 2]"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize(
    "dtype, count", [(np.uint8, 16), (np.int32, 65_536), (np.int64, 2**32)], ids=["uint8", "int32", "int64"]
)
def test_large_integer_counts_do_not_overflow(dtype, count):
    # User 1 played item 1 `count` times; squared in the matrix's own dtype that wraps round to 0.
    counts = sparse.csr_array(np.array([[1, 0, 0], [1, count, 0], [0, 0, 1], [0, 0, 1]], dtype=dtype))
    model = ItemItemRecommender().fit(counts)
    assert model.recommend(0, 2) == [1, 2], (
        f"item 1 shares user 1 with item 0, so it comes first for user 0, then the popular item 2: [1, 2]. "
        f"A count of {count} stored as {dtype.__name__} must not overflow (compute in floats, not in the "
        f"matrix's own integer type)"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("fmt", [sparse.csr_array, sparse.csc_array, sparse.coo_array], ids=["csr", "csc", "coo"])
def test_fit_leaves_the_callers_matrix_unchanged(fmt):
    matrix = interactions([{0: 1.0, 1: 3.0}, {0: 2.0, 2: 1.0}, {1: 1.0, 3: 5.0}], 4, fmt)
    before = matrix.toarray()
    model = ItemItemRecommender().fit(matrix)
    assert np.array_equal(matrix.toarray(), before), (
        "fit() changed the matrix it was given (normalised it in place?): work on a copy, "
        "the caller's interactions are not yours to rewrite"
    )
    assert model.recommend(0, 2) == [3, 2], "the fitted model should still weigh user 0's values 1 and 3: [3, 2]"


@pytest.mark.task(taskno=1)
def test_a_stored_zero_is_not_an_interaction():
    # Item 1 is stored three times, always with the value 0: nobody interacted with it.
    model = fitted([{0: 1.0}, {0: 1.0, 1: 0.0}, {1: 0.0}, {1: 0.0}, {2: 1.0}], 4)
    assert model.most_popular(4) == [0, 2, 1, 3], (
        "a stored zero is no interaction: item 0 has 2 users, item 2 has 1, items 1 and 3 none: [0, 2, 1, 3]"
    )


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize(
    "fmt", [sparse.coo_array, sparse.coo_matrix, "csr_with_repeats"],
    ids=["coo_array", "coo_matrix", "csr_with_repeats"],
)
def test_repeated_events_of_one_user_count_once(fmt):
    # An event log: user 0 played item 1 three times (three entries for one cell).
    data, rows, cols = [1.0, 1.0, 1.0, 1.0, 1.0], [0, 0, 0, 1, 2], [1, 1, 1, 2, 2]
    if fmt == "csr_with_repeats":
        log = csr_with_repeated_cells(data, rows, cols, (3, 4))
    else:
        log = fmt((data, (rows, cols)), shape=(3, 4))
    model = ItemItemRecommender().fit(log)
    assert model.most_popular(2) == [2, 1], (
        "repeated entries for one (user, item) cell are one user: item 2 (2 users) before item 1 (1 user)"
    )


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("dtype, events", [(np.uint8, 256), (np.int8, 200)], ids=["uint8", "int8"])
def test_an_event_log_in_a_small_integer_type_adds_up_without_wrapping(dtype, events):
    # User 0 played item 1 `events` times, one log entry per play; users 1 and 2 played item 2 once.
    rows = [0] * events + [1, 2]
    cols = [1] * events + [2, 2]
    log = sparse.coo_array((np.ones(len(rows), dtype=dtype), (rows, cols)), shape=(3, 4))
    model = ItemItemRecommender().fit(log)
    assert model.most_popular(3) == [2, 1, 0], (
        f"{events} entries of 1 for one cell add up to {events} (one user) even in a {dtype.__name__} log: item 2 "
        f"(2 users), item 1 (1 user), then item 0: [2, 1, 0]. scipy sums repeated cells in the log's own dtype when "
        f"it converts to CSR, so in {dtype.__name__} the sum wraps round (to 0 or a negative): convert the values to "
        f"float before the repeated cells are summed"
    )


@pytest.mark.task(taskno=2)
def test_a_boolean_event_log_adds_up_its_repeated_events():
    # The weighted example as a log of True flags: user 0 played item 1 three times and item 0 once;
    # user 1 played items 0 and 2, user 2 items 1 and 3.
    rows = [0, 0, 0, 0, 1, 1, 2, 2]
    cols = [1, 1, 1, 0, 0, 2, 1, 3]
    log = sparse.coo_array((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(3, 4))
    model = ItemItemRecommender().fit(log)
    assert model.recommend(0, 2) == [3, 2], (
        "three True entries for user 0 and item 1 are three events, a value of 3, whatever the log's dtype: item 3 "
        "(next to item 1) beats item 2 (next to item 0, played once): [3, 2]. Casting only integer dtypes to float "
        "leaves a bool log in bool, where repeated entries add up as a logical OR (3 events become 1) and they tie"
    )


@pytest.mark.task(taskno=2)
def test_a_float32_event_log_adds_up_in_float64():
    # The weighted example as a float32 log: user 0 valued item 1 at 0.3 in one entry and item 0 at 0.1 three times.
    # As float32 numbers, 0.3 is 0.30000001192... and three 0.1s add up to 0.30000000447... in float64, but in float32
    # they round to the very same 0.30000001192...; users 1 and 2 pair items 0 and 2, items 1 and 3.
    rows = [0, 0, 0, 0, 1, 1, 2, 2]
    cols = [1, 0, 0, 0, 0, 2, 1, 3]
    values = np.array([0.3, 0.1, 0.1, 0.1, 1.0, 1.0, 1.0, 1.0], dtype=np.float32)
    log = sparse.coo_array((values, (rows, cols)), shape=(3, 4))
    model = ItemItemRecommender().fit(log)
    assert model.recommend(0, 2) == [3, 2], (
        "user 0's float32 value of item 1 (0.3, 0.30000001192 as a float32) is a little more than the three float32 "
        "entries of 0.1 for item 0 (0.30000000447 added up in float64): item 3, next to item 1, comes first: [3, 2]. "
        "Casting only integer and bool logs to float64 leaves a float32 log in float32, where the three 0.1s add up "
        "to exactly the float32 0.3, the two items tie and the lower id, 2, comes first"
    )


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize(
    "matrix",
    [sparse.csr_array((3, 4)), sparse.coo_array(([0.0, 0.0], ([0, 2], [1, 3])), shape=(3, 4)), sparse.csr_array((0, 4)),
     sparse.coo_array(([-0.0, -0.0], ([0, 2], [1, 3])), shape=(3, 4))],
    ids=["no_stored_entries", "only_stored_zeros", "no_users_yet", "only_stored_negative_zeros"],
)
def test_a_matrix_without_interactions_is_a_valid_fit(matrix):
    model = ItemItemRecommender().fit(matrix)
    assert model.most_popular(4) == [0, 1, 2, 3], (
        "with no interactions every item has 0 users: the popularity order is the id order, [0, 1, 2, 3] "
        "(fit must not refuse a log without a single interaction: nothing in it is negative or non-finite; a stored "
        "-0.0 is zero, not negative, so a sign-bit check such as np.signbit must not reject it)"
    )
    assert model.recommend(0, 2) == [0, 1] and model.recommend(7, 2) == [0, 1], (
        "with no interactions every user is a cold start and gets most_popular(2), [0, 1]"
    )


@pytest.mark.task(taskno=1)
def test_fractional_values_are_interactions():
    # Users 0 and 1 played item 0 half-way (0.5); user 1 also item 1 (0.25); user 2 played item 2.
    model = fitted([{0: 0.5}, {0: 0.5, 1: 0.25}, {2: 1.0}], 4)
    assert model.most_popular(4) == [0, 1, 2, 3], (
        "a value of 0.5 or 0.25 is nonzero, so an interaction: item 0 has 2 users, items 1 and 2 one each: "
        "[0, 1, 2, 3] (never round or truncate the values)"
    )
    assert model.recommend(0, 3) == [1, 2, 3], (
        "user 0's 0.5 on item 0 is history: item 1 shares user 1 with it and comes first, then the popular "
        "unseen items 2 and 3: [1, 2, 3]"
    )


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("fmt", ["coo", "csr", "csc", "csr_with_repeats"])
def test_fit_leaves_the_callers_stored_entries_alone(fmt):
    # A float64 log with a repeated cell (0, 1) and a stored zero (1, 2), in the caller's own format.
    data, rows, cols = [1.0, 2.0, 0.0, 1.0, 1.0], [0, 0, 1, 1, 2], [1, 1, 2, 0, 0]
    log = sparse.coo_array((data, (rows, cols)), shape=(3, 3))
    if fmt == "csr_with_repeats":   # CSR that keeps the repeated cell, its row 1 not sorted by column
        matrix = csr_with_repeated_cells(data, rows, cols, (3, 3))
    elif fmt == "coo":
        matrix = log
    else:   # keep the stored zero (CSR/CSC conversion already summed the repeated cell)
        matrix = log.asformat(fmt)
        matrix = type(matrix)((matrix.data, matrix.indices, matrix.indptr), shape=matrix.shape)
    parts = ("data", "row", "col") if fmt == "coo" else ("data", "indices", "indptr")
    before = {name: getattr(matrix, name).copy() for name in parts}
    nnz = matrix.nnz
    ItemItemRecommender().fit(matrix)
    changed = [name for name in parts if not np.array_equal(getattr(matrix, name), before[name])]
    assert matrix.nnz == nnz and not changed, (
        f"fit() rewrote the caller's {fmt.upper().replace('_', ' ')} matrix (stored entries {nnz} -> {matrix.nnz}, "
        f"changed: {changed}): "
        f"summing duplicates or dropping zeros in place changes the caller's event log even when the dense values "
        f"stay the same; do it on your own copy"
    )


@pytest.mark.task(taskno=2)
def test_changing_the_matrix_after_fit_changes_nothing():
    # The weighted example: user 0 played item 1 three times and item 0 once, so [3, 2].
    matrix = interactions([{0: 1.0, 1: 3.0}, [0, 2], [1, 3]], 4)
    model = ItemItemRecommender().fit(matrix)
    matrix.data[:2] = [3.0, 1.0]   # the caller reuses its matrix: user 0's values swap
    matrix.data[2:] = 0.0          # and everyone else's interactions are cleared
    assert model.recommend(0, 2) == [3, 2] and model.most_popular(2) == [0, 1], (
        "the fitted model must keep what it learnt: after fit() the caller changed its matrix in place, and the "
        "recommendations changed with it (the model kept a reference to the caller's arrays instead of a copy)"
    )


@pytest.mark.task(taskno=2)
def test_a_failed_refit_leaves_the_previous_model_serving():
    model = fitted([[0], [0, 1], [2], [2], [2]], 6)
    before = model.recommend(0, 3), model.recommend(9, 3), model.most_popular(3)
    with pytest.raises(ValueError):
        model.fit(interactions([{0: 1.0}, {1: float("nan")}], 3))
    after = model.recommend(0, 3), model.recommend(9, 3), model.most_popular(3)
    assert after == before, (
        f"a fit() that raises ValueError must leave the recommender as it was (the last good model keeps "
        f"serving): before the failed fit {before}, after it {after}"
    )
    with pytest.raises(RuntimeError):
        unfitted = ItemItemRecommender()
        with pytest.raises(ValueError):
            unfitted.fit(interactions([{0: -1.0}], 2))
        unfitted.most_popular(1)


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize(
    "rejected",
    [interactions([{0: float("nan")}], 3), interactions([{0: 1.0}] * 8 + [{8: -1.0}], 9)],
    ids=["fewer_users_and_items", "more_users_and_items"],
)
def test_a_failed_refit_of_another_shape_changes_no_user(rejected):
    # Users 3 and 4 have histories; user 7 is unknown.
    model = fitted([[2], [2], [2], [0], [0, 1]], 6)
    before = [model.recommend(user, 3) for user in (3, 4, 7)], model.most_popular(6)
    with pytest.raises(ValueError):
        model.fit(rejected)
    after = [model.recommend(user, 3) for user in (3, 4, 7)], model.most_popular(6)
    assert after == before, (
        f"a fit() that raises must not change who the known users and items are, whatever the shape of the "
        f"rejected {rejected.shape[0]} x {rejected.shape[1]} matrix (was the shape stored before validating?): "
        f"users 3, 4, 7 and the popularity order were {before}, after the failed fit {after}"
    )


@pytest.mark.task(taskno=2)
def test_each_call_returns_a_list_of_its_own():
    model = fitted([[0], [0, 1], [2], [2], [2]], 6)
    asks = (lambda: model.most_popular(3), lambda: model.recommend(9, 3), lambda: model.recommend(0, 3),
            lambda: model.most_popular(6), lambda: model.most_popular(50), lambda: model.recommend(9, 50),
            lambda: model.recommend(0, 50))
    for ask in asks:
        first = ask()
        expected = list(first)
        first.remove(first[0])      # the caller filters a banned item out of its copy
        first.append(99)
        assert ask() == expected, (
            f"the caller edited the list it got back and the next identical call returned {ask()} instead of "
            f"{expected}: return a new list every time, never one the recommender keeps (a cache included)"
        )


@pytest.mark.task(taskno=2)
def test_one_request_does_not_change_the_answers_to_the_next():
    # User 1 saw item 0, which shares user 0 with item 1: [1, 2, 3]. User 4 saw only item 3, which shares
    # no user with anything: the popular unseen items [0, 2, 1].
    histories = [[0, 1], [0], [2], [2], [3]]
    alone = {user: fitted(histories, 4).recommend(user, 3) for user in range(5)}
    assert alone[1] == [1, 2, 3] and alone[4] == [0, 2, 1], f"asked of fresh models: {alone}"
    model = fitted(histories, 4)
    for user in (1, 4, 0, 2, 3, 1, 4):
        got = model.recommend(user, 3)
        assert got == alone[user], (
            f"user {user} got {got} after other users' requests, but {alone[user]} from a fresh model: a request "
            f"must leave nothing behind (a mask or buffer reused across requests that still marks the last "
            f"user's seen or recommended items hides them from the next user's list)"
        )


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_negative_or_non_finite_interactions_are_rejected(bad):
    with pytest.raises(ValueError):
        ItemItemRecommender().fit(interactions([{0: 1.0}, {1: bad}], 3))


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8])
def test_a_negative_count_in_an_integer_matrix_is_rejected(dtype):
    # A count matrix with a -1 (a "thumbs down" logged as a negative count): integers cannot be NaN,
    # but they can be negative, and a negative value is refused whatever the matrix's dtype.
    counts = sparse.csr_array(np.array([[1, 0, 2], [0, -1, 1]], dtype=dtype))
    with pytest.raises(ValueError):
        ItemItemRecommender().fit(counts)


@pytest.mark.task(taskno=1)
def test_using_the_model_before_fit_is_an_error():
    model = ItemItemRecommender()
    with pytest.raises(RuntimeError):
        model.most_popular(3)
    with pytest.raises(RuntimeError):
        model.recommend(0, 3)


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("k", [0, -1])
def test_most_popular_rejects_k_below_one(k):
    model = fitted([[0]], 3)
    with pytest.raises(ValueError):
        model.most_popular(k)


@pytest.mark.task(taskno=1)
def test_most_popular_returns_plain_ints(planted):
    model, _, _ = planted
    items = model.most_popular(5)
    assert all(type(item) is int for item in items), (
        f"item ids should be plain Python ints (numpy integers do not serialise to JSON), got {items!r}"
    )


# --- task 2: recommend -----------------------------------------------------------------


@pytest.mark.task(taskno=2)
def test_items_sharing_users_with_the_history_come_first_then_popular_ones():
    # User 0 saw item 0; user 1 saw items 0 and 1, so item 1 is similar to item 0.
    # Item 2 is the most popular but shares no user with item 0.
    model = fitted([[0], [0, 1], [2], [2], [2]], 6)
    assert model.recommend(0, 3) == [1, 2, 3], (
        "similar item 1 first, then unseen items by popularity (2, then 3 by lower id)"
    )


@pytest.mark.task(taskno=2)
def test_k_larger_than_the_unseen_items_returns_every_unseen_item_once():
    model = fitted([[0], [0, 1], [2], [2], [2]], 6)
    assert model.recommend(0, 50) == [1, 2, 3, 4, 5], (
        "user 0 has seen 1 of 6 items, so recommend(0, 50) should return the other 5, each once"
    )


@pytest.mark.task(taskno=2)
def test_a_more_similar_item_ranks_higher():
    # User 0 saw items 0 and 1. Item 2 shares users with both; item 3 only with item 0
    # and is more popular overall.
    model = fitted([[0, 1], [0, 1, 2], [0, 3], [3], [3]], 5)
    assert model.recommend(0, 2) == [2, 3], (
        "item 2 is similar to both items user 0 saw, item 3 to only one: [2, 3]"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("once, more", [(1.0, 3.0), (12.0, 40.0)], ids=["one_and_three", "twelve_and_forty"])
def test_a_stronger_interaction_weighs_more_in_the_score(once, more):
    # User 0 played item 1 more often than item 0. Item 3 pairs with item 1 exactly as
    # item 2 pairs with item 0, so only the weights (say 3 against 1) can put item 3 first.
    model = fitted([{0: once, 1: more}, [0, 2], [1, 3]], 4)
    assert model.recommend(0, 2) == [3, 2], (
        f"an item's score sums value(user, i) x similarity(i, j): item 3, next to the item played {more:g} times, "
        f"beats item 2, next to the item played {once:g} times: [3, 2] (values are counts of any size: never cap "
        "them to a rating scale)"
    )


@pytest.mark.task(taskno=2)
def test_a_fractional_value_weighs_in_the_score_as_it_is():
    # The weighted example with values 1.5 and 1.0: truncated to whole numbers they would tie.
    model = fitted([{0: 1.0, 1: 1.5}, [0, 2], [1, 3]], 4)
    assert model.recommend(0, 2) == [3, 2], (
        "item 3, next to the item user 0 valued 1.5, beats item 2, next to the item valued 1.0: [3, 2] "
        "(a truncated or rounded value makes them tie and puts 2 first)"
    )


@pytest.mark.task(taskno=2)
def test_the_users_values_add_up_in_the_score_as_they_are():
    # User 0 valued items 0 and 3 (both next to item 5) at 4 and 0.5, items 1 and 2 (both next to item 4) at
    # 2 each. Users 1-4 make those four links; users 5-8 give items 0-3 the same number of users and the same
    # column length, so every similarity (cosine on values or on 0/1, Jaccard, counts) of the links is equal.
    evens = [{0: 1.0}, {1: 13.0**0.5}, {2: 13.0**0.5}, {3: 16.75**0.5}]
    model = fitted([{0: 4.0, 3: 0.5, 1: 2.0, 2: 2.0}, [0, 5], [3, 5], [1, 4], [2, 4]] + evens, 6)
    assert model.recommend(0, 2) == [5, 4], (
        "an item's score sums value(user, i) x similarity(i, j) with the values as they are: at the same "
        "similarity s, item 5 scores (4 + 0.5) x s and item 4 scores (2 + 2) x s, so [5, 4]. Damping the values "
        "(a log, a square root) or ignoring them puts item 4 first"
    )


@pytest.mark.task(taskno=2)
def test_two_moderate_links_outweigh_one_strong_link():
    # The example above with user 0's value of item 0 lowered from 4 to 3 (user 5's value raised to sqrt(8) to keep
    # every column length equal): item 5 now scores (3 + 0.5) x s, item 4 still (2 + 2) x s.
    evens = [{0: 8.0**0.5}, {1: 13.0**0.5}, {2: 13.0**0.5}, {3: 16.75**0.5}]
    model = fitted([{0: 3.0, 3: 0.5, 1: 2.0, 2: 2.0}, [0, 5], [3, 5], [1, 4], [2, 4]] + evens, 6)
    assert model.recommend(0, 2) == [4, 5], (
        "an item's score is the sum over all the user's items of value(user, i) x similarity(i, j): item 4 "
        "scores (2 + 2) x s and beats item 5's (3 + 0.5) x s, so [4, 5]. Keeping only the best single link "
        "(a max over the history instead of the sum) puts item 5 first"
    )


@pytest.mark.task(taskno=2)
def test_a_request_does_not_reweigh_the_model_for_the_next():
    # User 0 valued item 1 three times item 0, user 3 valued item 0 twice item 1. Item 2 pairs with item 0 and
    # item 3 with item 1, so user 0 gets [3, 2] and user 3 gets [2, 3].
    histories = [{0: 1.0, 1: 3.0}, [0, 2], [1, 3], {0: 2.0, 1: 1.0}]
    alone = {user: fitted(histories, 4).recommend(user, 2) for user in (0, 3)}
    assert alone == {0: [3, 2], 3: [2, 3]}, f"asked of fresh models: {alone}"
    model = fitted(histories, 4)
    for user in (0, 3, 0, 3, 3, 0):
        got = model.recommend(user, 2)
        assert got == alone[user], (
            f"user {user} got {got} after other requests, but {alone[user]} from a fresh model: a request must "
            f"not change the model (scaling the similarity rows by the user's values in place, through a view of "
            f"the sparse matrix's data, re-weighs every later request)"
        )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("n", [300, 1_200], ids=["300-items", "past-a-thousand-items"])
def test_every_item_of_a_long_history_counts_in_the_score(n):
    # User 0 saw items 0..n-1, valuing each at 2 except item n-1, valued 1. Only item n-1 shares a user
    # (user 1) with item n; item n+1 is popular but shares no user with user 0's history.
    model = fitted([{item: 2.0 for item in range(n - 1)} | {n - 1: 1.0}, [n - 1, n], [n + 1], [n + 1], [n + 1]], n + 2)
    assert model.recommend(0, 2) == [n, n + 1], (
        f"the score sums over all the user's items, however long the history: item {n}, next to item {n - 1} (user "
        f"0's weakest and last item of {n}), shares a user with the history and comes before the popular item "
        f"{n + 1}: [{n}, {n + 1}]. Scoring only from the user's top or first N items (the strongest 1,000, say, to "
        "bound the latency of heavy users) drops it to the padding"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("gap", [1e-9, 1e-12], ids=["a_billionth", "a_trillionth"])
def test_values_a_hair_apart_still_rank_apart(gap):
    # The weighted example with values 1 and 1 + gap: item 3 pairs with item 1 exactly as item 2 pairs with
    # item 0, so only the gap between user 0's two values tells their scores apart.
    model = fitted([{0: 1.0, 1: 1.0 + gap}, [0, 2], [1, 3]], 4)
    assert model.recommend(0, 2) == [3, 2], (
        f"item 3, next to the item user 0 valued 1 + {gap:g}, scores higher than item 2, next to the item valued 1: "
        f"[3, 2]. Keep values and scores in float64 and compare them as they are: float32 (to halve the memory) "
        f"turns 1 + {gap:g} into 1.0, and rounding scores to 9 or 12 decimals (to merge float noise into ties) "
        f"makes them tie, which puts the lower id, 2, first"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("fmt", [sparse.coo_array, sparse.coo_matrix], ids=["coo_array", "coo_matrix"])
def test_repeated_events_add_up_to_the_weight_in_the_score(fmt):
    # The weighted example as an event log: user 0 played item 1 three times (three entries of 1)
    # and item 0 once; user 1 played items 0 and 2, user 2 items 1 and 3.
    rows = [0, 0, 0, 0, 1, 1, 2, 2]
    cols = [1, 1, 1, 0, 0, 2, 1, 3]
    log = fmt((np.ones(len(rows)), (rows, cols)), shape=(3, 4))
    model = ItemItemRecommender().fit(log)
    assert model.recommend(0, 2) == [3, 2], (
        "three log entries of 1 for user 0 and item 1 add up to a value of 3, which weighs in the score like "
        "one entry of 3: item 3 (next to item 1) beats item 2 (next to item 0, played once): [3, 2]. "
        "Keeping only one of the repeated entries makes them tie"
    )


@pytest.mark.task(taskno=2)
def test_padding_follows_popularity_by_users_not_volume():
    # Item 2 has three users; item 3 one user with 50 plays. Neither shares a user with item 0.
    model = fitted([{0: 1.0}, {0: 1.0, 1: 1.0}, {2: 1.0}, {2: 1.0}, {2: 1.0}, {3: 50.0}], 5)
    assert model.recommend(0, 4) == [1, 2, 3, 4], (
        "after the similar item 1 the list is padded in popularity order (distinct users): 2 (3 users), "
        "3 (1 user, however many plays), 4: [1, 2, 3, 4]"
    )


@pytest.mark.task(taskno=2)
def test_equal_scores_go_to_the_lower_item_id():
    # User 2 saw items 0 and 1, which are mirror images: item 7 pairs with item 0 exactly
    # as item 3 pairs with item 1, so 7 and 3 score the same.
    model = fitted([[0, 7], [1, 3], [0, 1]], 10)
    assert model.recommend(2, 2) == [3, 7], "items 3 and 7 tie, so the lower id, 3, comes first"


@pytest.mark.task(taskno=2)
def test_many_equal_scores_come_out_in_id_order():
    # Every other user pairs item 0 with one item; user 4 saw only item 0.
    model = fitted([[0, 9], [0, 4], [0, 6], [0, 2], [0]], 12)
    assert model.recommend(4, 4) == [2, 4, 6, 9], (
        "items 9, 4, 6 and 2 are equally similar to item 0, so they come in id order: [2, 4, 6, 9]"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("pairing_order", [(1, 2, 3, 4, 6, 7, 8), (8, 7, 6, 4, 3, 2, 1)], ids=["by_id", "reversed"])
def test_when_k_cuts_through_equal_scores_the_lower_ids_are_kept(pairing_order):
    # Three users pair item 0 with item 5; one user each pairs it with 1, 2, 3, 4, 6, 7 or 8, in the given order.
    # User 10 saw only item 0: item 5 is the best, the other seven tie behind it.
    model = fitted([[0, 5]] * 3 + [[0, item] for item in pairing_order] + [[0]], 12)
    tied = [1, 2, 3, 4, 6, 7, 8]
    for k in range(2, 8):
        assert model.recommend(10, k) == [5] + tied[: k - 1], (
            f"recommend(10, {k}): item 5 first, then the first {k - 1} of the equally scored items "
            f"{tied} in id order; cutting the top k out of the ties must keep the lower ids"
        )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("histories, tied", [([[0, 9], [1, 2], [5], [0, 1]], [2, 9]), ([[0, 2], [1, 9], [5], [0, 1]], [2, 9])],
                         ids=["lower_id_via_the_later_history_item", "lower_id_via_the_earlier_history_item"])
def test_when_k_cuts_a_tie_between_neighbours_of_different_history_items_the_lower_id_is_kept(histories, tied):
    # User 3 saw items 0 and 1. One tied item pairs with item 0, the other with item 1, exactly alike.
    model = fitted(histories, 10)
    assert model.recommend(3, 3) == tied + [5], f"items {tied} tie, lower id first, then the popular item 5"
    assert model.recommend(3, 1) == tied[:1], (
        f"recommend(3, 1) cuts through the tie of items {tied}: the lower id, {tied[0]}, is kept, whichever of "
        f"the user's items it pairs with (a top-k heap over scores met while walking the history keeps the "
        f"first one met, not the lower id)"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("n", [1_200, 2_500], ids=["1200-items", "2500-items"])
def test_a_user_with_more_than_a_thousand_items_still_links_them(n):
    # User 0 saw items 0..n-1; user 1 saw only item 0, so items 1..n-1 share user 0 with it and tie.
    # Items n+100 and n+101 are popular but share no user with item 0.
    model = fitted([list(range(n)), [0], [n + 100], [n + 100], [n + 100], [n + 101], [n + 101]], n + 102)
    got = model.recommend(1, 3)
    assert got == [1, 2, 3], (
        f"items 1, 2, 3 share user 0 with item 0, so they come before the popular padding {n + 100} and {n + 101}: "
        f"[1, 2, 3], got {got}. A user with a long history (here {n:,} items) is a user like any other: no cut-off "
        "on history length (1,000 or 2,000 items, to leave out crawlers) may drop them from the similarity"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("k", [0, -1])
@pytest.mark.parametrize("user_id", [0, 2, 7], ids=["known_user", "empty_history", "unknown_user"])
def test_recommend_rejects_k_below_one(k, user_id):
    model = fitted([[0], [0, 1], []], 3)
    with pytest.raises(ValueError):
        model.recommend(user_id, k)


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("user_id", [5, 10**6, 2**64], ids=["just_past_the_last_row", "far_away", "beyond_64_bits"])
def test_an_unknown_user_gets_the_most_popular_items(user_id):
    model = fitted([[0, 1], [1], [1, 2], [], [3]], 5)
    assert model.recommend(user_id, 3) == [1, 0, 2], (
        f"user {user_id} is not in the data: a cold start gets the most popular items, [1, 0, 2]"
    )


@pytest.mark.task(taskno=2)
def test_a_user_without_interactions_gets_the_most_popular_items():
    model = fitted([[0, 1], [1], [1, 2], [], [3]], 5)
    assert model.recommend(3, 3) == [1, 0, 2], (
        "user 3 has an empty history: a cold start gets the most popular items, [1, 0, 2]"
    )


@pytest.mark.task(taskno=2)
def test_a_user_right_after_one_without_interactions_is_not_a_cold_start():
    # User 1 has an empty row; user 2, the next row, saw item 0, which shares user 0 with item 1.
    model = fitted([[0, 1], [], [0], [2], [2], [2]], 4)
    assert model.recommend(2, 2) == [1, 2], (
        "user 2 saw item 0 and gets the similar item 1, then the popular unseen item 2: [1, 2]. The empty "
        "history of user 1 says nothing about user 2, who is not a cold start (that would be [2, 0])"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("user_id", [-1, -2, -5], ids=["minus_one", "minus_two", "minus_n_users"])
def test_a_negative_user_id_is_unknown_not_a_user_counted_from_the_end(user_id):
    model = fitted([[1], [1], [1, 2], [0, 4], [3, 4]], 5)
    assert model.recommend(user_id, 2) == [1, 4], (
        f"user {user_id} does not exist and gets the most popular items [1, 4]; "
        f"indexing the matrix with {user_id} would wrongly answer for user {5 + user_id}"
    )


@pytest.mark.task(taskno=2)
def test_an_item_stored_with_value_zero_is_not_seen():
    model = fitted([{0: 1.0}, {0: 1.0, 1: 0.0}, {1: 0.0}, {1: 0.0}, {2: 1.0}], 4)
    assert model.recommend(1, 3) == [2, 1, 3], (
        "user 1's stored zero for item 1 is no interaction: item 1 is unseen and may be recommended, [2, 1, 3]"
    )
    assert model.recommend(2, 2) == [0, 2], "user 2 has only a stored zero: a cold start gets the most popular [0, 2]"


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("integer", [np.int64, np.int32], ids=["int64", "int32"])
def test_numpy_integer_user_ids_are_users(integer):
    model = fitted([[0], [0, 1], [2], [2], [2]], 6)
    assert model.recommend(integer(0), 3) == [1, 2, 3], (
        f"a {integer.__name__} user id (as read from an array or a DataFrame) is user 0, not a cold start"
    )
    assert model.recommend(integer(-1), 2) == [2, 0], f"a {integer.__name__} -1 is still an unknown user"


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("integer", [np.uint32, np.uint64, np.int16], ids=["uint32", "uint64", "int16"])
def test_user_ids_of_any_numpy_integer_type_are_users(integer):
    model = fitted([[0], [0, 1], [2], [2], [2]], 6)
    assert model.recommend(integer(0), 3) == [1, 2, 3], (
        f"a {integer.__name__} user id (ids are often stored unsigned or narrow) is user 0, not a cold start: "
        "[1, 2, 3]"
    )
    assert model.recommend(integer(5), 2) == [2, 0], f"a {integer.__name__} 5 is past the last user: a cold start"


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("earlier", [[2], []], ids=["earlier_users_with_histories", "earlier_users_without"])
@pytest.mark.parametrize(
    "integer, user_id", [(np.uint8, 255), (np.int8, 127), (np.int16, 32_767)], ids=["uint8", "int8", "int16"]
)
def test_a_narrow_numpy_user_id_at_its_largest_value_is_a_user(integer, user_id, earlier):
    # The user with the largest id the type can hold saw item 0, which shares the next user with item 1;
    # every user before them saw item 2 (or nothing), and two more users after them saw item 2.
    model = fitted([earlier] * user_id + [[0], [0, 1], [2], [2]], 4)
    got = model.recommend(integer(user_id), 2)
    assert got == [1, 2], (
        f"{integer.__name__}({user_id}), the largest id a {integer.__name__} holds, is a user who saw item 0: the "
        f"similar item 1, then the popular unseen item 2: [1, 2]; got {got}. In the id's own type, user_id + 1 wraps "
        f"round ({integer.__name__}({user_id}) + 1 is {integer(user_id) + integer(1)}), so indptr[user_id + 1] "
        f"reads another row: turn the id into a Python int (int(user_id)) before doing arithmetic with it"
    )


@pytest.mark.task(taskno=2)
def test_concurrent_requests_each_get_the_answer_they_would_get_alone(impl_dir):
    # User 1 saw item 0, which shares user 0 with item 1: [1, 2, 3]. User 4 saw only item 3, which shares
    # no user with anything: the popular unseen items [0, 2, 1]. Each request pads its list from popularity.
    histories = [[0, 1], [0], [2], [2], [3]]
    expected = {1: [1, 2, 3], 4: [0, 2, 1], 2: [0, 1, 3]}
    model = fitted(histories, 4)
    users = [1, 4, 2] * 3
    start = threading.Barrier(len(users))

    def ask(user):
        start.wait(timeout=10)
        return user, [model.recommend(user, 3) for _ in range(3)]

    with switching_threads(impl_dir), ThreadPoolExecutor(len(users)) as pool:
        answers = list(pool.map(ask, users, timeout=25))
    wrong = [(user, got) for user, gots in answers for got in gots if got != expected[user]]
    assert not wrong, (
        f"requests served at the same time from several threads (a web server's worker pool) got {wrong[:3]}, not "
        f"what each user gets alone ({expected}): a buffer or mask kept on the recommender and shared by every "
        f"request (cleared after use) holds one request's marks while another reads it; keep per-request scratch "
        f"space local to the call"
    )


@pytest.mark.task(taskno=2)
def test_a_user_who_has_seen_every_item_gets_an_empty_list():
    # User 0 saw all three items; user 1 saw items 0 and 1, user 2 item 2.
    model = fitted([[0, 1, 2], [0, 1], [2]], 3)
    assert model.recommend(0, 2) == [], (
        "user 0 has seen the whole catalogue: there is no unseen item to recommend, so the list is empty "
        "(min(k, unseen items) = 0); falling back to the popular items would show seen items again"
    )
    assert model.recommend(1, 5) == [2], "user 1 has one unseen item left, item 2: [2], however large k is"


@pytest.mark.task(taskno=2)
def test_fitting_again_replaces_the_previous_model():
    model = ItemItemRecommender().fit(interactions([[0, 1], [0, 1], [2], [2]], 4))
    assert model.recommend(0, 2) == [2, 3], "after the first fit nothing shares a user with items 0 and 1: [2, 3]"
    assert model.most_popular(2) == [0, 1], "after the first fit items 0 and 1 have two users each: [0, 1]"
    assert model.recommend(9, 2) == [0, 1], "after the first fit a cold start gets [0, 1]"
    model.fit(interactions([[0], [0, 3], [1], [1], [1], [2]], 4))
    assert model.most_popular(2) == [1, 0], (
        "after the second fit, popularity comes from the new data: [1, 0] (nothing remembered from the first fit)"
    )
    assert model.recommend(9, 2) == [1, 0], "after the second fit a cold start gets the new most popular [1, 0]"
    assert model.recommend(0, 2) == [3, 1], (
        "after the second fit item 3 (not item 1) shares a user with item 0: [3, 1]; the first fit is forgotten"
    )
    assert model.recommend(4, 2) == [0, 2], (
        "user 4 exists only in the second fit (6 users, not 4): they saw item 1 and get the popular unseen "
        "items [0, 2], not a cold start's [1, 0]"
    )


@pytest.mark.task(taskno=2)
def test_fitting_again_forgets_the_users_of_the_previous_fit():
    # First fit: users 0 and 4 saw item 0, which shares user 1 with item 1.
    model = fitted([[0], [0, 1], [2], [2], [0]], 4)
    assert model.recommend(0, 2) == [1, 2] and model.recommend(4, 2) == [1, 2], "after the first fit: [1, 2]"
    # Second fit: user 0's row is empty and there is no user 4 any more; item 2 is the most popular.
    model.fit(interactions([[], [0, 1], [2], [2]], 4))
    for user in (0, 4):
        assert model.recommend(user, 2) == [2, 0], (
            f"after the second fit user {user} has no history (an empty row, or no row at all): a cold start "
            f"gets the new most popular items [2, 0]; their history from the first fit must be forgotten "
            f"(it would give [1, 2])"
        )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("n", [600, 1_200], ids=["599-neighbours", "more-than-a-thousand-neighbours"])
def test_every_item_sharing_a_user_comes_before_the_padding_however_many(n):
    # User 0 saw items 0..n-1; user 1 saw only item 0; user 2 saw item 0 and the even items 2..n-2.
    # So items 1..n-1 all share a user with user 1's history: the even ones share two users with
    # item 0 (more similar), the odd ones one. Items n and n+1 are popular but share no user with item 0.
    model = fitted([list(range(n)), [0], [0] + list(range(2, n, 2)), [n], [n], [n], [n + 1], [n + 1]], n + 10)
    shown = model.recommend(1, n + 1)
    expected = list(range(2, n, 2)) + list(range(1, n, 2)) + [n, n + 1]
    assert shown == expected, (
        f"all {n - 1} items that share a user with item 0 come first: the even ones (two shared users) in id order, "
        f"then the odd ones (one shared user) in id order, then the popular items {n} and {n + 1}; got "
        f"{shown[:6]}...{shown[-4:]} with {n} at position {shown.index(n) if n in shown else None}. Keep every "
        "positive similarity (no top-N pruning of neighbours, however generous the cut, not even each item's top "
        "1,000; no skipping users with long histories), and sort equal scores stably by id (numpy's default "
        "argsort is not stable)"
    )


@pytest.mark.task(taskno=2)
def test_a_weak_similarity_still_comes_before_the_padding():
    # Item 0 was played by 20,001 users; one of them (user 0) also played item 1, so items 0 and 1
    # share one user: their similarity is positive but tiny (cosine 1/sqrt(20,001), about 0.007).
    # Item 2, played by 3 users, shares no user with item 0.
    crowd = 20_000
    model = fitted([[0, 1]] + [[0]] * crowd + [[2]] * 3, 3)
    assert model.recommend(1, 2) == [1, 2], (
        "user 1 saw item 0, which shares a user with item 1: however weak that similarity, item 1 comes "
        "before the popular padding item 2: [1, 2]. Do not drop small similarities with a threshold"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("tiny", [1e-6, 1e-12, 1e-18, 1e-50],
                         ids=["a_millionth", "a_trillionth", "below_machine_epsilon", "below_float32_range"])
def test_a_barely_there_interaction_still_links_two_items(tiny):
    # User 0 played item 0 for a tiny fraction of its length and item 1 fully: the only user the two
    # items share. Weighted by that value, the cosine of items 0 and 1 is about tiny / 7 (1e-7, 1e-13, 1e-19 or
    # 1e-51: the last is below the smallest float32, about 1.4e-45, but an ordinary float64).
    model = fitted([{0: tiny, 1: 1.0}] + [{0: 1.0}] * 50 + [{2: 1.0}] * 3, 3)
    assert model.recommend(1, 2) == [1, 2], (
        "items 0 and 1 share user 0, so item 1 comes first for user 1 (who saw item 0), however small user 0's "
        f"value: [1, 2]. A value of {tiny} is an interaction; no threshold on similarities or scores (not even "
        "one meant to ignore float noise, such as 1e-9, np.isclose or machine epsilon) may drop it, and the "
        "similarity stays in float64 like the values (a float32 similarity, to halve its memory, rounds a cosine "
        "below about 1e-45 to 0 and loses the link)"
    )


@pytest.mark.task(taskno=2)
def test_a_barely_there_link_still_counts_next_to_a_strong_one():
    # As above, items 0 and 1 share only user 0, who played item 0 for a trillionth of its length.
    # Five more users played items 0 and 3, so for user 1 item 3 scores about 0.3 and item 1 about 1e-13.
    tiny = 1e-12
    model = fitted([{0: tiny, 1: 1.0}] + [{0: 1.0}] * 50 + [{2: 1.0}] * 3 + [{0: 1.0, 3: 1.0}] * 5, 4)
    assert model.recommend(1, 3) == [3, 1, 2], (
        "item 3 (strongly linked to item 0) first, then item 1, which shares user 0 with item 0 however small "
        f"that link next to the best score, then the popular item 2: [3, 1, 2]. A threshold relative to the best "
        f"score (say 1e-9 x the maximum, to ignore float noise) drops item 1's score of about {tiny / 7:.0e}"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("user, expected", [(1, [1, 2]), (6, [1, 2]), (2, [0, 2])],
                         ids=["largest_value_seen", "smallest_value_seen", "the_other_item_seen"])
def test_a_link_through_the_smallest_value_next_to_the_largest_ones_still_comes_first(user, expected):
    # The README's limits: a nonzero value lies between 1e-50 and 1e50. Items 0 and 1 share only user 0, who holds
    # both at 1e-50; users 1 and 2 hold them at 1e50. Their cosine is about 1e-100 x 1e-100 = 1e-200, and user 6's
    # score for item 1 about 1e-50 x 1e-200 = 1e-250: tiny, but far above float64's smallest subnormal (5e-324).
    smallest, largest = 1e-50, 1e50
    model = fitted([{0: smallest, 1: smallest}, {0: largest}, {1: largest}] + [{2: 1.0}] * 3 + [{0: smallest}], 4)
    got = model.recommend(user, 2)
    assert got == expected, (
        f"items 0 and 1 share user 0 (valued {smallest} next to values of {largest}), so for user {user} the other "
        f"one comes before the popular padding item 2: {expected}; got {got}. Within the README's value range a "
        "similarity and a score stay positive in float64: keep them in float64 and drop no small score"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("tiny", [1e-10, 1e-16], ids=["a_ten_billionth", "below_fifteen_decimals"])
def test_tiny_scores_are_ranked_as_they_are(tiny):
    # User 0 valued item 0 at `tiny` and item 5 at 3 x `tiny`. Item 1 pairs with item 0 exactly as item 2 pairs with
    # item 5 (users 1 and 2), so every similarity is the same and only the tiny values tell the scores apart.
    model = fitted([{0: tiny, 5: 3 * tiny}, [0, 1], [5, 2]], 6)
    assert model.recommend(0, 2) == [2, 1], (
        f"item 2, next to the item user 0 valued {3 * tiny:g}, scores three times item 1, next to the item valued "
        f"{tiny:g}: [2, 1]. Scores are compared as they are, however small: rounding them (to 9, 12 or even 15 "
        "decimals, say, to merge float noise into ties) turns both into 0 and puts the lower id, 1, first"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("n_items", [8, 4], ids=["larger_catalogue", "smaller_catalogue"])
def test_fitting_again_on_another_catalogue_serves_the_new_items(n_items):
    # Both fits: user 0 saw item 0, which shares user 1 with item 1; item 2 is the most popular.
    histories = [[0], [0, 1], [2], [2], [2]]
    model = fitted(histories, 6)
    assert model.recommend(0, 10) == [1, 2, 3, 4, 5], "after the first fit (6 items): [1, 2, 3, 4, 5]"
    model.fit(interactions(histories, n_items))
    expected = [1, 2] + list(range(3, n_items))
    got = model.recommend(0, 10)
    assert got == expected, (
        f"after fitting again on {n_items} items user 0 should get every unseen item of the new catalogue, "
        f"{expected}, got {got}: nothing sized for the first fit's 6 items (a buffer or mask kept between "
        f"requests) may survive the refit"
    )
    assert model.recommend(9, 10) == [2] + [item for item in range(n_items) if item != 2], (
        f"after fitting again on {n_items} items a cold start gets the new catalogue in popularity order"
    )


def _users_per_item(train):
    """How many users' training histories hold each of the N_ITEMS items: the popularity both orders follow."""
    users = np.zeros(N_ITEMS, dtype=np.int64)
    for history in train:
        users[list(history)] += 1
    return users


@pytest.mark.task(taskno=1)
def test_equal_popularity_on_the_full_catalogue_goes_to_the_lower_item_id(planted):
    model, train, _ = planted
    users = _users_per_item(train)
    expected = sorted(range(N_ITEMS), key=lambda item: (-users[item], item))
    got = model.most_popular(N_ITEMS)
    first_wrong = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), None)
    assert got == expected, (
        f"most_popular({N_ITEMS}) on the 10,000-item catalogue should list items by users, equal counts by "
        f"lower id; first difference at position {first_wrong}. numpy's default argsort is not stable on "
        f"large arrays: use np.lexsort or kind='stable'"
    )


@pytest.mark.task(taskno=2)
def test_padding_on_the_full_catalogue_follows_popularity_with_ties_in_id_order(planted):
    model, train, _ = planted
    users = _users_per_item(train)
    seen = set(train[7])
    linked = set().union(*(history for history in train if seen & set(history))) - seen
    padding = sorted(set(range(N_ITEMS)) - seen - linked, key=lambda item: (-users[item], item))
    got = model.recommend(7, N_ITEMS)[len(linked):]
    first_wrong = next((i for i, (a, b) in enumerate(zip(got, padding)) if a != b), None)
    assert len(got) == len(padding) and first_wrong is None, (
        f"recommend(7, {N_ITEMS}) lists the {len(linked)} items sharing a user with user 7's history, then pads with "
        f"the other {len(padding)} unseen items by popularity, equal counts by lower id; the padding differs at "
        f"position {first_wrong}: {got[first_wrong:first_wrong + 3] if first_wrong is not None else got[-3:]} where "
        f"{padding[first_wrong:first_wrong + 3] if first_wrong is not None else padding[-3:]} belongs. numpy's default "
        "argsort is not stable on arrays of more than 16 items: keep the precomputed popularity order (or sort "
        "with np.lexsort or kind='stable')"
    )


@pytest.mark.task(taskno=2)
def test_recommendations_never_include_seen_items(planted):
    model, train, _ = planted
    for user in range(0, N_USERS, 10):
        shown = model.recommend(user, 10)
        repeated = set(shown) & set(train[user])
        assert not repeated, f"user {user} already interacted with {sorted(repeated)}; they must not be recommended"
        assert len(shown) == 10 and len(set(shown)) == 10, f"user {user} should get 10 distinct items, got {shown}"


@pytest.mark.task(taskno=2)
def test_asking_for_the_whole_catalogue_returns_every_unseen_item_once(planted):
    model, train, _ = planted
    shown = model.recommend(7, N_ITEMS)
    expected = set(range(N_ITEMS)) - set(train[7])
    assert len(shown) == len(expected) and set(shown) == expected, (
        f"recommend(7, {N_ITEMS}) should return each of the {len(expected)} items user 7 has not seen exactly once"
    )


@pytest.mark.task(taskno=2)
def test_k_defaults_to_ten(planted):
    model, _, _ = planted
    assert model.most_popular() == model.most_popular(10), "most_popular() should return the top 10 (k=10 by default)"
    assert model.recommend(3) == model.recommend(3, 10), "recommend(user) should return 10 items (k=10 by default)"
    assert model.recommend(-1) == model.most_popular(10), "a cold start without k gets the top 10 popular items"


@pytest.mark.task(taskno=2)
def test_recommendations_are_plain_ints(planted):
    model, _, _ = planted
    shown = model.recommend(3, 5)
    assert all(type(item) is int for item in shown), f"item ids should be plain Python ints, got {shown!r}"
    json.dumps(shown)
    padded = model.recommend(3, 500)   # more than share a user with user 3's history: popular items pad it
    not_int = sorted({type(item).__name__ for item in padded if type(item) is not int})
    assert not not_int, f"the items padding the list should be plain Python ints too, not {not_int}"
    json.dumps(padded)


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("user_id", [3, 5, -1], ids=["empty_history", "unknown_user", "negative_id"])
def test_a_cold_start_gets_plain_ints_too(user_id):
    model = fitted([[0, 1], [1], [1, 2], []], 4)
    shown = model.recommend(user_id, 3)
    types = sorted({type(item).__name__ for item in shown})
    assert shown == [1, 0, 2] and types == ["int"], (
        f"cold-start user {user_id} should get the most popular items [1, 0, 2] as plain Python ints, got {shown!r} "
        f"of types {types}: numpy integers do not serialise to JSON"
    )
    json.dumps(shown)


@pytest.mark.task(taskno=2)
def test_recall_at_10_on_planted_clusters_beats_the_bound(planted):
    model, _, held_out = planted
    users = range(0, N_USERS, 4)
    recall = np.mean([len(set(model.recommend(u, 10)) & held_out[u]) / HELD_OUT_PER_USER for u in users])
    assert recall >= RECALL_AT_10_BOUND, (
        f"mean recall@10 on the held-out cluster items is {recall:.2f}; item-item similarity should "
        f"reach at least {RECALL_AT_10_BOUND} (a popularity list scores about 0)"
    )


@pytest.mark.task(taskno=2)
def test_fit_and_recommend_never_build_a_dense_item_by_item_matrix(planted_data):
    matrix, _, _ = planted_data
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        model = ItemItemRecommender().fit(matrix)
        for user in range(0, N_USERS, 100):
            model.recommend(user, 10)
        model.recommend(7, N_ITEMS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started_here:
            tracemalloc.stop()
    used_mb = (peak - baseline) / 1e6
    assert used_mb < PEAK_MEMORY_BOUND_MB, (
        f"fit() and recommend() on 1,000 users x 10,000 items peaked at {used_mb:.0f} MB; keep the similarity "
        f"sparse (a dense 10,000 x 10,000 matrix is 800 MB in float64, 400 MB in float32): stay under "
        f"{PEAK_MEMORY_BOUND_MB} MB"
    )

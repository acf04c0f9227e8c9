"""Task 1: a deterministic data set with a real held-out split, and its fingerprint."""

import hashlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiment import fingerprint, make_dataset

pytestmark = pytest.mark.task(taskno=1)


def _nudged(array, index):
    """A copy of `array` with one value changed by the smallest step its dtype can hold."""
    changed = array.copy()
    value = changed[index]
    if changed.dtype.kind == "f":
        changed[index] = np.nextafter(value, np.inf, dtype=changed.dtype)
    else:
        changed[index] = value + 1 if value < np.iinfo(changed.dtype).max else value - 1
    return changed


def test_returns_train_and_test_arrays_that_fit_together():
    X_train, X_test, y_train, y_test = make_dataset(0)
    for name, array in {"X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test}.items():
        assert isinstance(array, np.ndarray), f"{name} should be a numpy array, not {type(array).__name__}"
    assert X_train.ndim == 2 and X_test.ndim == 2, "X_train and X_test should be 2-D (rows × features)"
    assert X_train.shape[1] == X_test.shape[1] >= 2, "train and test rows should have the same features (at least 2)"
    assert len(X_train) == len(y_train), "X_train and y_train should have one label per row"
    assert len(X_test) == len(y_test), "X_test and y_test should have one label per row"
    assert len(X_train) + len(X_test) >= 400, "use at least 400 rows, so held-out metrics are not noise"


def test_labels_are_binary_and_both_classes_are_in_each_split():
    _, _, y_train, y_test = make_dataset(0)
    for name, labels in {"y_train": y_train, "y_test": y_test}.items():
        assert set(np.unique(labels)) == {0, 1}, f"{name} should hold both classes, 0 and 1, and nothing else"
        assert labels.dtype.kind in "iu", (
            f"{name} holds {labels.dtype} values: labels should be the integers 0 and 1 (booleans compare equal "
            "to 0 and 1 but are another type, and the models then predict True/False)")


def test_test_split_is_a_fair_share_of_the_data():
    X_train, X_test, _, _ = make_dataset(0)
    share = len(X_test) / (len(X_train) + len(X_test))
    assert 0.15 <= share <= 0.4, f"the held-out share should be 15–40 % of the rows, not {share:.0%}"


def test_test_rows_are_held_out_from_training():
    X_train, X_test, _, _ = make_dataset(0)
    train_rows = {row.tobytes() for row in X_train}
    shared = sum(row.tobytes() in train_rows for row in X_test)
    assert shared == 0, f"{shared} test rows also appear in the training split: metrics on them are not held out"


def test_same_seed_gives_the_same_arrays():
    first, second = make_dataset(3), make_dataset(3)
    for a, b, name in zip(first, second, ("X_train", "X_test", "y_train", "y_test")):
        assert np.array_equal(a, b), f"make_dataset(3) called twice should give the same {name} (fix every random seed)"


def _digest_of(arrays) -> str:
    """A SHA-256 of the arrays' dtypes, shapes and values (the test's own, not your fingerprint)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


IN_ANOTHER_PROCESS = """
import hashlib, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from experiment import make_dataset
digest = hashlib.sha256()
for array in make_dataset(int(sys.argv[2])):
    array = np.ascontiguousarray(array)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
print(digest.hexdigest())
"""


@pytest.mark.timeout(240)
def test_same_seed_gives_the_same_arrays_in_another_process(tmp_path):
    folder = Path(inspect.getfile(make_dataset)).resolve().parent
    here = _digest_of(make_dataset(5))
    # Another hash seed than this process's: a seed derived with hash() of a string then changes.
    hash_seed = "54321" if os.environ.get("PYTHONHASHSEED") == "12345" else "12345"
    done = subprocess.run([sys.executable, "-c", IN_ANOTHER_PROCESS, str(folder), "5"], cwd=tmp_path,
                          env={**os.environ, "PYTHONHASHSEED": hash_seed}, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, f"make_dataset(5) failed in a fresh Python process:\n{done.stderr[-2000:]}"
    there = done.stdout.strip().splitlines()[-1]
    assert there == here, (
        "make_dataset(5) gives other arrays in another Python process than in this one: the same seed must "
        "give the same data everywhere (a run's fingerprint is only worth something if anyone can rebuild "
        "the data); derive every random generator from `seed` alone, never from hash() of a string, which "
        "Python salts differently in every process (PYTHONHASHSEED)")


def test_every_seed_gives_data_of_its_own_seed_zero_included():
    seeds = sorted(set(range(50)) | {42, 123, 1234, 1337, 2024, 12345})
    first_seen = {}
    for seed in seeds:
        digest = _digest_of(make_dataset(seed))
        assert digest not in first_seen, (
            f"make_dataset({first_seen.get(digest)}) and make_dataset({seed}) give the same arrays: another seed "
            "should give other data, 0 included (`seed or 42` quietly turns seed 0 into seed 42)")
        first_seen[digest] = seed


@pytest.mark.parametrize("big, small", [(2**32, 0), (2**32 + 5, 5), (2**64 + 1, 1), (-5, 5), (-1, 1),
                                        (3.7, 3), (3.7, 4), (np.float32(3.7), 3), (np.float32(3.7), 4)])
def test_a_seed_the_generator_cannot_take_is_refused_not_folded_into_another(big, small):
    try:
        folded = _digest_of(make_dataset(big))
    except NotImplementedError:
        raise   # the stub: not written yet
    except Exception:   # refusing a seed the generator cannot take: what should happen (or other data)
        return
    assert folded != _digest_of(make_dataset(small)), (
        f"make_dataset({big}) gives the same arrays as make_dataset({small}): a seed the generator cannot take was "
        "folded into another seed (`seed % 2**32`, `abs(seed)`, `int(seed)`, `round(seed)`); another seed gives other data, so take it as it "
        "is or let the generator refuse it with an error")


@pytest.mark.parametrize("numpy_seed", [np.int64(3), np.int32(3), np.uint16(3)], ids=["int64", "int32", "uint16"])
def test_a_numpy_integer_is_a_seed(numpy_seed):
    try:
        as_numpy = _digest_of(make_dataset(numpy_seed))
    except NotImplementedError:
        raise   # the stub: not written yet
    except Exception as exc:
        pytest.fail(f"make_dataset({type(numpy_seed).__name__}(3)) raised {type(exc).__name__}: {exc}; a NumPy integer "
                    "(a seed from `for seed in np.arange(5)`, say) is a whole number and a seed like the int it "
                    "holds: refuse only what is not a whole number (isinstance(seed, int) refuses NumPy integers)",
                    pytrace=False)
    assert as_numpy == _digest_of(make_dataset(3)), (
        f"make_dataset({type(numpy_seed).__name__}(3)) gives other arrays than make_dataset(3): a NumPy integer is "
        "a seed like the int it holds")


@pytest.mark.parametrize("whole_float", [3.0, np.float64(3.0), np.float32(3.0)], ids=["float", "float64", "float32"])
def test_a_float_holding_a_whole_number_is_no_seed(whole_float):
    try:
        make_dataset(whole_float)
    except NotImplementedError:
        raise   # the stub: not written yet
    except Exception:   # refused: what the README asks for
        return
    pytest.fail(f"make_dataset({type(whole_float).__name__}(3.0)) returned data; a float is no seed, even one that "
                "holds a whole number: it should raise an error (`float(seed).is_integer()` lets 3.0 through, "
                "check that the seed is an integer type, e.g. numbers.Integral or operator.index)", pytrace=False)


def test_the_largest_32_bit_seed_is_a_seed():
    largest = 2**32 - 1
    first, again = _digest_of(make_dataset(largest)), _digest_of(make_dataset(largest))
    assert first == again, f"make_dataset({largest}) called twice should give the same arrays"
    assert first != _digest_of(make_dataset(0)), (
        f"make_dataset({largest}) should give other data than make_dataset(0): it is the largest seed scikit-learn's "
        "random_state takes, a seed like any other (a bound you check yourself must not refuse it)")


def test_seed_zero_is_a_seed_and_the_default():
    default, zero, again = make_dataset(), make_dataset(0), make_dataset(0)
    for a, b, c, name in zip(default, zero, again, ("X_train", "X_test", "y_train", "y_test")):
        assert np.array_equal(b, c), (
            f"make_dataset(0) called twice should give the same {name}: 0 is a seed like any other "
            "(`seed or None` turns it into fresh randomness)")
        assert np.array_equal(a, b), f"make_dataset() should be make_dataset(0) (the default seed is 0); {name} differs"


def test_changing_the_returned_arrays_in_place_does_not_change_the_next_call():
    first = make_dataset(0)
    kept = [a.copy() for a in first]
    for array in first:
        if array.flags.writeable:   # read-only arrays are a fine way to share a cached copy
            array[0] = 1 - array[0]   # what a caller cleaning or relabelling "its" data might do
    again = make_dataset(0)
    for a, b, name in zip(kept, again, ("X_train", "X_test", "y_train", "y_test")):
        assert np.array_equal(a, b), (
            f"after a caller changed the arrays make_dataset(0) gave it in place, make_dataset(0) returns another "
            f"{name}: hand out fresh (or read-only) arrays on every call, not one shared cached copy")


def test_make_dataset_leaves_the_global_random_state_alone():
    import random

    make_dataset(0)   # first imports done (an import may draw from `random` once)
    saved_numpy, saved_python = np.random.get_state(), random.getstate()
    try:
        np.random.seed(1234)
        random.seed(1234)
        expected = (np.random.random(3), random.random())
        np.random.seed(1234)
        random.seed(1234)
        make_dataset(0)
        drawn = (np.random.random(3), random.random())
    finally:
        np.random.set_state(saved_numpy)
        random.setstate(saved_python)
    assert np.array_equal(drawn[0], expected[0]) and drawn[1] == expected[1], (
        "after make_dataset(0) the caller's global random numbers (np.random, random) come out differently: "
        "draw from generators of your own seeded with `seed` (random_state=seed, np.random.default_rng(seed)), "
        "never np.random.seed(...) or random.seed(...), which reset the whole program's randomness")


def _rounding(X) -> float:
    """How far a statistic of `X` may sit from a round number after rounding: 1e-9, more for float32 features."""
    return max(1e-9, 64 * float(np.finfo(X.dtype).eps)) if X.dtype.kind == "f" else 1e-9


def _every_column_at(values, targets, atol=1e-9) -> bool:
    """Whether each column's statistic is one of `targets` (to rounding error)."""
    return all(any(abs(value - target) <= atol for target in targets) for value in values)


def _one_row_at(values, target, atol) -> bool:
    """Whether exactly one of `values` is `target` (a scaler's extreme; a clipped or binary feature has many)."""
    return int(np.sum(np.abs(np.asarray(values, dtype=np.float64) - target) <= atol)) == 1


def test_features_are_not_scaled_with_statistics_of_the_test_rows():
    X_train, X_test, _, _ = make_dataset(0)
    every_row = np.vstack([X_train, X_test])
    # Statistics in float64, to the rounding error of the features' own dtype: float32 features scaled on all
    # rows land on the round number only to float32 precision.
    atol, every_row = _rounding(every_row), every_row.astype(np.float64)
    # A scaler (or PCA) fitted on all rows leaves a statistic of all rows exactly on a round number in
    # every column; generated features never land there by chance.
    fitted_on_all_rows = {
        "in every column, mean 0 (centred: StandardScaler, a z-score with either std, PCA)":
            _every_column_at(every_row.mean(axis=0), [0.0], atol),
        "in every column, standard deviation 1 (StandardScaler without centring)":
            _every_column_at(every_row.std(axis=0), [1.0], atol)
            or _every_column_at(every_row.std(axis=0, ddof=1), [1.0], atol),
        "in every column, median 0 (RobustScaler)": _every_column_at(np.median(every_row, axis=0), [0.0], atol),
        "in every column, min 0 or -1 and max 1 (MinMaxScaler, any range)":
            _every_column_at(every_row.min(axis=0), [0.0, -1.0], atol)
            and _every_column_at(every_row.max(axis=0), [1.0], atol),
        "in every column, largest absolute value 1 (MaxAbsScaler)":
            _every_column_at(np.abs(every_row).max(axis=0), [1.0], atol),
        "in every column, a largest value of 1 reached by one row only (divided by the column's max: "
        "`X / X.max(axis=0)`)": _every_column_at(every_row.max(axis=0), [1.0], atol)
            and all(_one_row_at(column, column.max(), 0) for column in every_row.T),
        # The same statistics over the whole array (axis=None): `(X - X.mean()) / X.std()`, `X / abs(X).max()`.
        "over the whole array, mean 0 (centred or z-scored without axis=0: `(X - X.mean()) / X.std()`)":
            _every_column_at([every_row.mean()], [0.0], atol),
        "over the whole array, standard deviation 1 (divided by X.std() without axis=0)":
            _every_column_at([every_row.std()], [1.0], atol) or _every_column_at([every_row.std(ddof=1)], [1.0], atol),
        "over the whole array, largest absolute value 1 (divided by abs(X).max())":
            _every_column_at([np.abs(every_row).max()], [1.0], atol),
        "over the whole array, min 0 or -1 and max 1 (min-max scaled without axis=0)":
            _every_column_at([every_row.min()], [0.0, -1.0], atol) and _every_column_at([every_row.max()], [1.0], atol),
        "over the whole array, a largest value of 1 held by one value only (divided by `X.max()`)":
            _every_column_at([every_row.max()], [1.0], atol) and _one_row_at(every_row.ravel(), every_row.max(), 0),
    }
    found = [name for name, hit in fitted_on_all_rows.items() if hit]
    assert not found, (
        f"the training and test rows together have, {found[0]}: the features were "
        "scaled (or projected) with statistics of all rows before the split, so the test rows shaped the "
        "training data; return the features as generated, and fit any scaling on the training rows only "
        "(a Pipeline does)")


def _scaled_columns(rows) -> dict[int, str]:
    """The columns of `rows` scaled on these rows' own statistics, each with what gives it away."""
    atol, rows = _rounding(rows), rows.astype(np.float64)
    # Two statistics of one column exactly on round numbers at once: a generated feature never lands on both.
    means, stds, stds1 = rows.mean(axis=0), rows.std(axis=0), rows.std(axis=0, ddof=1)
    medians = np.median(rows, axis=0)
    spreads = np.percentile(rows, 75, axis=0) - np.percentile(rows, 25, axis=0)
    scaled = {}
    for column in range(rows.shape[1]):
        values = rows[:, column]
        if abs(means[column]) <= atol and (abs(stds[column] - 1) <= atol or abs(stds1[column] - 1) <= atol):
            scaled[column] = "mean 0 and standard deviation 1: standardised"
        elif abs(medians[column]) <= atol and abs(spreads[column] - 1) <= atol:
            scaled[column] = "median 0 and interquartile range 1: robust-scaled"
        elif (abs(values.max() - 1) <= atol and min(abs(values.min()), abs(values.min() + 1)) <= atol
              and _one_row_at(values, values.max(), 0) and _one_row_at(values, values.min(), 0)):
            scaled[column] = "a minimum of 0 (or -1) and a maximum of 1, each held by one row: min-max scaled"
    return scaled


def test_not_even_one_feature_is_scaled_with_statistics_of_the_test_rows():
    X_train, X_test, _, _ = make_dataset(0)
    scaled = _scaled_columns(np.vstack([X_train, X_test]))
    assert not scaled, (
        f"over the training and test rows together, column {next(iter(scaled))} has {next(iter(scaled.values()))} "
        "with statistics of all rows before the split, so the test rows shaped the training data (one column is "
        "a leak too); return the features as generated, and fit any scaling on the training rows only (a "
        "Pipeline does)")


def test_training_rows_are_not_scaled_even_with_their_own_statistics():
    X_train, _, _, _ = make_dataset(0)
    scaled = _scaled_columns(X_train)
    assert not scaled, (
        f"over the training rows, column {next(iter(scaled))} has {next(iter(scaled.values()))} with the "
        "training rows' own statistics: make_dataset should return the features as generated, not scaled at all; "
        "scaling belongs inside the model (a Pipeline in run_experiment), so the logged model takes raw features")


def test_features_are_not_min_max_scaled_even_with_an_epsilon():
    X_train, X_test, _, _ = make_dataset(0)
    every_row = np.vstack([X_train, X_test])
    atol, every_row = _rounding(every_row), every_row.astype(np.float64)
    lows, highs = every_row.min(axis=0), every_row.max(axis=0)
    # `(X - X.min(0)) / (X.max(0) - X.min(0) + eps)` leaves every minimum exactly on 0 and every maximum just
    # under 1: generated features never have both in every column.
    assert not (_every_column_at(lows, [0.0, -1.0], atol) and _every_column_at(highs, [1.0], 1e-5)), (
        f"over the training and test rows together, every column has a minimum of exactly 0 (or -1) and a maximum "
        f"within 1e-5 of 1 (lowest maximum {highs.min()!r}): the features were min-max scaled (with a small "
        "epsilon in the divisor) with statistics of all rows before the split; return the features as generated, "
        "and fit any scaling on the training rows only (a Pipeline does)")


def test_features_are_not_clipped_at_bounds_taken_from_all_rows():
    X_train, X_test, _, _ = make_dataset(0)
    every_row = np.vstack([X_train, X_test]).astype(np.float64)
    # A generated continuous feature holds its smallest and its largest value in one row each; clipping it at
    # percentiles of all rows (winsorizing "to tame outliers") piles several rows onto a bound that is no round
    # number. Features with few distinct values (counts, categories) tie by nature and are left out, and so is a
    # natural floor or ceiling (a measurement that is 0 in several rows of real data).
    clipped = {}
    for column, values in enumerate(every_row.T):
        if not _continuous(values):
            continue
        low, high = float(values.min()), float(values.max())
        at_low, at_high = int(np.sum(values == low)), int(np.sum(values == high))
        if (at_low > 1 and not low.is_integer()) or (at_high > 1 and not high.is_integer()):
            clipped[column] = f"{at_low} rows at its minimum {low!r}, {at_high} at its maximum {high!r}"
    assert not clipped, (
        f"over the training and test rows together, continuous feature {next(iter(clipped))} has "
        f"{next(iter(clipped.values()))}: the features were clipped at bounds taken from the rows (percentiles of all "
        "rows, say) before the split, so the test rows shaped the training data; return the features as generated, "
        "and fit any clipping or scaling on the training rows only (inside the model, a Pipeline does)")


def _continuous(values) -> bool:
    """Whether a feature holds a value of its own in (nearly) every row: counts and categories tie by nature."""
    return len(np.unique(values)) > 0.9 * len(values)


def test_no_feature_is_shifted_by_its_smallest_or_largest_value_over_all_rows():
    X_train, X_test, _, _ = make_dataset(0)
    every_row = np.vstack([X_train, X_test]).astype(np.float64)
    # `X - X.min(axis=0)` (then a log1p or a square root "to tame skew") leaves exactly one row at exactly 0 in
    # that column, its smallest (or, shifted by the largest value, its largest) value; a generated continuous
    # feature never lands on 0 exactly.
    shifted = {column: "smallest" if values.min() == 0 else "largest"
               for column, values in enumerate(every_row.T)
               if _continuous(values) and 0.0 in (values.min(), values.max()) and _one_row_at(values, 0.0, 0)}
    assert not shifted, (
        f"over the training and test rows together, continuous feature {next(iter(shifted))} has its "
        f"{next(iter(shifted.values()))} value at exactly 0, in one row: it was shifted by its minimum (or maximum) "
        "over all rows before the split (`X - X.min(axis=0)`, with or without a log after it), so the test rows "
        "shaped the training data; return the features as generated, and fit any transformation on the training "
        "rows only (inside the model, a Pipeline does)")


def test_every_seed_gives_the_same_number_of_rows_none_dropped_as_outliers():
    counts = {seed: sum(len(part) for part in make_dataset(seed)[:2]) for seed in range(20)}
    assert len(set(counts.values())) == 1, (
        f"make_dataset gives a different number of rows (training plus test) for different seeds: {counts}; rows "
        "were dropped by their values (outliers by a z-score of all rows, say) before the split, so the test rows "
        "decided which training rows were kept; keep every row you generated")


def test_make_dataset_chooses_no_features_by_their_relation_to_the_labels(monkeypatch):
    import sklearn.feature_selection

    import experiment

    computed = []
    spied = [(np, name) for name in ("corrcoef", "cov")] + [
        (sklearn.feature_selection, name) for name in ("f_classif", "f_regression", "chi2", "r_regression",
                                                      "mutual_info_classif", "mutual_info_regression")]
    for module, name in spied:
        original = getattr(module, name)

        def noting_the_call(*args, _original=original, _name=name, **kwargs):
            computed.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, noting_the_call)
        if getattr(experiment, name, None) is original:   # imported by name into the answer
            monkeypatch.setattr(experiment, name, noting_the_call)
    make_dataset(0)
    assert not computed, (
        f"make_dataset called {', '.join(sorted(set(computed)))}: choosing features by their relation to the labels "
        "over all rows before the split lets the test rows' labels shape the training data; return the features "
        "as generated, and do any selection inside the models' Pipelines, on the training rows only")


def test_make_dataset_fits_no_estimator_on_the_rows(fits_started):
    make_dataset(0)
    fitted = [fit.estimator for fit in fits_started]
    assert not fitted, (
        f"make_dataset fitted {', '.join(sorted(set(fitted)))} on its rows: a feature selector (SelectKBest) or a "
        "scaler fitted before the split lets the test rows and their labels shape the training data, and one "
        "fitted inside make_dataset is fitted there for every model; return the features as generated and fit "
        "any scaling or selection inside the models' Pipelines, on the training rows only")


def test_different_seeds_give_different_data():
    assert not np.array_equal(make_dataset(1)[1], make_dataset(2)[1]), (
        "make_dataset(1) and make_dataset(2) should differ: the seed must drive the randomness")


def test_fingerprint_is_a_sha256_hex_digest_stable_across_calls():
    arrays = make_dataset(0)
    digest = fingerprint(*arrays)
    assert isinstance(digest, str) and len(digest) == 64, "a fingerprint should be a 64-character SHA-256 hex digest"
    assert all(c in "0123456789abcdef" for c in digest), "a SHA-256 hex digest uses only 0-9 and a-f"
    assert fingerprint(*[a.copy() for a in arrays]) == digest, "equal data should give the same fingerprint"


def test_fingerprint_changes_when_one_value_changes():
    X_train, X_test, y_train, y_test = make_dataset(0)
    before = fingerprint(X_train, X_test, y_train, y_test)
    flipped = y_test.copy()
    flipped[0] = 1 - flipped[0]
    assert fingerprint(X_train, X_test, y_train, flipped) != before, (
        "flipping one test label should change the fingerprint: it must cover the values, not just shapes")
    assert fingerprint(_nudged(X_train, (5, 1)), X_test, y_train, y_test) != before, (
        "changing one feature value by the smallest step its dtype holds should change the fingerprint "
        "(hash the exact values, not rounded or cast to a smaller type)")
    assert fingerprint(_nudged(X_train, (-1, -1)), X_test, y_train, y_test) != before, (
        "changing the very last value of X_train should change the fingerprint: hash every value, "
        "not a prefix or a sample of the bytes")
    big = np.array([2**53, 7], dtype=np.int64)
    bumped = np.array([2**53 + 1, 7], dtype=np.int64)
    assert fingerprint(big) != fingerprint(bumped), (
        "int64 arrays [2**53, 7] and [2**53 + 1, 7] differ in one value and should give different fingerprints: "
        "hash the values as stored (a cast to float64 rounds 2**53 + 1 to 2**53)")


def test_fingerprint_covers_dtype_and_shape_not_only_the_bytes():
    X_train, X_test, y_train, y_test = make_dataset(0)
    before = fingerprint(X_train, X_test, y_train, y_test)
    moved = fingerprint(X_train[:-1], np.concatenate([X_train[-1:], X_test]),
                        y_train[:-1], np.concatenate([y_train[-1:], y_test]))
    assert moved != before, (
        "moving one row from the training split to the test split keeps every byte in the same order "
        "but must change the fingerprint: hash each array's shape too")
    assert fingerprint(X_train.reshape(-1), X_test, y_train, y_test) != before, (
        "the same values in another shape (X_train flattened) should give another fingerprint")
    assert fingerprint(X_train[..., np.newaxis], X_test, y_train, y_test) != before, (
        "the same values with a trailing axis (X_train[..., None], same rows, same number of values) should "
        "give another fingerprint: hash the whole shape, not only the number of rows or of values")
    other = np.dtype(f"{'i' if X_train.dtype.kind == 'u' else 'u'}{X_train.dtype.itemsize}")
    assert fingerprint(X_train.view(other), X_test, y_train, y_test) != before, (
        f"the same bytes read as another dtype (X_train viewed as {other}) should give another fingerprint")
    swapped = X_train.dtype.newbyteorder()
    assert X_train.dtype.itemsize == 1 or fingerprint(X_train.view(swapped), X_test, y_train, y_test) != before, (
        f"the same bytes read with the other byte order (X_train viewed as {swapped.str}, same kind and size) "
        "are other values and should give another fingerprint: hash the full dtype (dtype.str), "
        "not only its kind or size")


def test_fingerprint_tells_a_0d_array_from_a_one_element_one():
    assert fingerprint(np.array(5.0)) != fingerprint(np.array([5.0])), (
        "np.array(5.0) (shape ()) and np.array([5.0]) (shape (1,)) gave the same fingerprint: they differ in "
        "shape; read the shape before np.ascontiguousarray, which turns a 0-d array into shape (1,)")


def test_fingerprint_takes_a_strided_view_like_its_copy():
    X_train, X_test, y_train, y_test = make_dataset(0)
    every_other_column = X_train[:, ::2]   # a view: its values are not contiguous in memory
    as_copy = np.ascontiguousarray(every_other_column)
    assert fingerprint(every_other_column, X_test, y_train, y_test) == fingerprint(as_copy, X_test, y_train, y_test), (
        "a strided view (X_train[:, ::2]) and its contiguous copy hold equal data and should give the "
        "same fingerprint (hash the values in order, e.g. np.ascontiguousarray(a).tobytes(), not the raw buffer)")
    assert fingerprint(every_other_column, X_test, y_train, y_test) != fingerprint(X_train, X_test, y_train, y_test), (
        "every other column of X_train is other data than X_train: the fingerprints should differ")


def test_fingerprint_takes_a_fortran_ordered_copy_like_a_c_ordered_one():
    X_train, X_test, y_train, y_test = make_dataset(0)
    c_order, fortran = np.ascontiguousarray(X_train), np.asfortranarray(X_train)
    assert fingerprint(fortran, X_test, y_train, y_test) == fingerprint(c_order, X_test, y_train, y_test), (
        "X_train in Fortran (column-major) order, as DataFrame.to_numpy() often returns it, holds the same "
        "values as its C-ordered copy and should give the same fingerprint: hash the values in row order "
        "(np.ascontiguousarray(a).tobytes()), not the array's memory as it lies")


def test_fingerprint_of_an_array_changed_in_place_changes():
    X_train, X_test, y_train, y_test = make_dataset(0)
    X_train, y_train = X_train.copy(), y_train.copy()
    before = fingerprint(X_train, X_test, y_train, y_test)
    y_train[0] = 1 - y_train[0]   # the same array object, one label flipped in place
    assert fingerprint(X_train, X_test, y_train, y_test) != before, (
        "an array changed in place (one label of y_train flipped) holds other data: its fingerprint "
        "must change (hash the values on every call, do not remember digests by array identity)")
    y_train[0] = 1 - y_train[0]
    assert fingerprint(X_train, X_test, y_train, y_test) == before, (
        "the array changed back in place holds the original data again: the fingerprint should be the "
        "original one")


def test_fingerprint_depends_on_the_order_of_the_arrays():
    X_train, X_test, y_train, y_test = make_dataset(0)
    assert fingerprint(X_train, X_test, y_train, y_test) != fingerprint(X_test, X_train, y_test, y_train), (
        "the same arrays in another order (test split passed as training split) should give another "
        "fingerprint: hash the arrays in the order given, do not sort or combine them order-free")


def test_fingerprint_covers_the_dtype_when_the_values_are_equal():
    X_train, X_test, y_train, y_test = make_dataset(0)
    as32 = fingerprint(X_train, X_test, y_train.astype(np.int32), y_test)
    as64 = fingerprint(X_train, X_test, y_train.astype(np.int64), y_test)
    assert as32 != as64, (
        "y_train as int32 and as int64 holds equal values but another dtype: the fingerprint covers the "
        "dtype (hash each array's dtype, not only its values as a list)")

"""Day 13, tasks 1-2: drift between a reference sample and current data (PSI and KS)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from drift import DriftReport, detect_drift, ks_test, psi, psi_level

EPS = 1e-4
N = 5000  # large enough that sampling noise stays far below the PSI and KS cut-offs


def term(p_cur: float, p_ref: float) -> float:
    return (p_cur - p_ref) * math.log(p_cur / p_ref)


def brute_force_psi(reference, current, bins=10, epsilon=EPS) -> float:
    """The README's definition, written out plainly, as the oracle."""
    edges = [float(e) for e in np.quantile(np.asarray(reference, dtype=float), [i / bins for i in range(1, bins)])]

    def proportions(values):
        counts = [0] * bins
        for x in values:
            counts[sum(1 for e in edges if e < x)] += 1
        return [max(c / len(values), epsilon) for c in counts]

    return sum(term(c, r) for c, r in zip(proportions(current), proportions(reference)))


# --- task 1: PSI ----------------------------------------------------------------


@pytest.mark.task(taskno=1)
def test_psi_of_a_hand_worked_example_uses_epsilon_for_the_empty_bin():
    reference = np.arange(100.0)  # quartile edges 24.75, 49.5, 74.25: 25 values per bin
    current = [10.0] * 50 + [60.0] * 30 + [90.0] * 20  # bins: 50 %, 0 %, 30 %, 20 %
    expected = term(0.5, 0.25) + term(EPS, 0.25) + term(0.3, 0.25) + term(0.2, 0.25)
    got = psi(reference, current, bins=4)
    assert got == pytest.approx(expected, rel=1e-9), (
        f"PSI should be {expected:.6f}: proportions 0.5/0.0/0.3/0.2 against 0.25 each, the empty bin "
        f"counted as epsilon={EPS}; got {got}"
    )


@pytest.mark.task(taskno=1)
def test_psi_bins_are_cut_at_the_reference_quantiles_not_at_equal_widths():
    reference = np.arange(100.0) ** 2  # skewed: the median (2450.5) is far below the midrange (4900.5)
    current = [3000.0] * 40
    expected = term(EPS, 0.5) + term(1.0, 0.5)
    got = psi(reference, current, bins=2)
    assert got == pytest.approx(expected, rel=1e-9), (
        f"with bins cut at the reference median 2450.5 every current value (3000) lies in the upper bin, "
        f"PSI {expected:.6f}; got {got} (equal-width bins would cut at 4900.5)"
    )


@pytest.mark.task(taskno=1)
def test_psi_counts_values_outside_the_reference_range_in_the_outer_bins():
    reference = np.arange(100.0)
    above = psi(reference, [1000.0] * 10, bins=4)
    below = psi(reference, [-1000.0] * 10, bins=4)
    expected = term(1.0, 0.25) + 3 * term(EPS, 0.25)
    assert above == pytest.approx(expected, rel=1e-9), f"values above the reference go to the last bin, got {above}"
    assert below == pytest.approx(expected, rel=1e-9), f"values below the reference go to the first bin, got {below}"


@pytest.mark.task(taskno=1)
def test_psi_puts_a_value_equal_to_an_edge_in_the_bin_below():
    reference = [0.0, 1.0, 2.0, 3.0, 4.0]  # median edge is exactly 2.0: 0, 1, 2 below it, 3, 4 above
    got = psi(reference, [2.0] * 5 + [0.0] * 5, bins=2)
    expected = term(1.0, 0.6) + term(EPS, 0.4)
    assert got == pytest.approx(expected, rel=1e-9), (
        f"2.0 sits on the edge and belongs to the lower bin, with 0.0 (and with 3/5 of the reference); "
        f"expected {expected:.6f}, got {got}"
    )


@pytest.mark.task(taskno=1)
def test_psi_epsilon_is_a_parameter():
    reference = np.arange(100.0)
    got = psi(reference, [1000.0] * 10, bins=4, epsilon=0.01)
    expected = term(1.0, 0.25) + 3 * term(0.01, 0.25)
    assert got == pytest.approx(expected, rel=1e-9), f"with epsilon=0.01 PSI should be {expected:.6f}, got {got}"
    # One value of 200 in the first bin is a proportion of 0.005: below epsilon, so it counts as 0.01 too.
    got = psi(reference, [10.0] + [1000.0] * 199, bins=4, epsilon=0.01)
    expected = term(0.995, 0.25) + 3 * term(0.01, 0.25)
    assert got == pytest.approx(expected, rel=1e-9), (
        f"every proportion below epsilon (0.005 < 0.01, not only an empty bin) is raised to epsilon: "
        f"PSI {expected:.6f}, got {got}"
    )
    for bins, epsilon in ((np.int64(4), 0.01), (4, np.float32(0.01)), (np.int32(4), np.float64(0.01))):
        try:
            got = psi(reference, [10.0] + [1000.0] * 199, bins=bins, epsilon=epsilon)
        except NotImplementedError:
            raise
        except Exception as exc:
            pytest.fail(f"bins={bins!r} ({type(bins).__name__}) and epsilon={epsilon!r} ({type(epsilon).__name__}) "
                        f"are a number of bins and a positive epsilon, NumPy numbers or not (isinstance(x, int) is "
                        f"false for a numpy.int64, isinstance(x, float) for a numpy.float32); psi raised {exc!r}")
        expected = term(0.995, 0.25) + 3 * term(float(epsilon), 0.25)
        assert got == pytest.approx(expected, rel=1e-6), (
            f"with bins={bins!r} and epsilon={epsilon!r}, NumPy numbers, PSI is {expected:.6f}, got {got}"
        )


@pytest.mark.task(taskno=1)
def test_psi_leaves_the_callers_samples_as_they_were():
    reference = [3.0, 1.0, 2.0, 5.0, 4.0] * 4
    current = [9.0, 0.0, 4.5, 2.5]
    before = (list(reference), list(current))
    psi(reference, current, bins=4)
    assert (reference, current) == before, (
        f"psi only reads its samples; the caller's lists were changed (sorted in place?) to {reference}, {current}"
    )


@pytest.mark.task(taskno=1)
def test_psi_leaves_the_callers_numpy_arrays_as_they_were():
    reference = np.array([3.0, 1.0, 2.0, 5.0, 4.0] * 4)
    current = np.array([9.0, 0.0, 4.5, 2.5])
    before = (reference.copy(), current.copy())
    psi(reference, current, bins=4)
    assert np.array_equal(reference, before[0]) and np.array_equal(current, before[1]), (
        f"psi only reads its samples; the caller's numpy arrays were changed (numpy.asarray of a float array is "
        f"the same array, so sorting it sorts the caller's data) to {reference}, {current}"
    )


@pytest.mark.task(taskno=1)
def test_psi_of_a_sample_against_itself_is_zero_even_with_ties():
    for sample in ([5.0] * 50, [1.0, 1.0, 2.0, 2.0, 2.0, 7.0] * 10, list(np.linspace(-3, 3, 101))):
        got = psi(sample, sample)
        assert got == pytest.approx(0.0, abs=1e-12), f"a sample compared with itself has PSI 0, got {got}"


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("reference, current", [
    ([10**20 + i * 10**18 for i in range(100)], [10**20 + i * 10**18 for i in range(50, 150)]),  # beyond 64 bits
    (np.arange(100), np.arange(50, 150)),  # numpy int64: np.int64 is not a Python int
    (np.arange(100, dtype=np.float32) / 4, np.arange(50, 150, dtype=np.float32) / 4),  # np.float32 is not a float
    ([np.int64(v) for v in range(100)], [np.float32(v) for v in range(50, 150)]),  # lists of numpy scalars
    ([1e308 + i * 5e305 for i in range(100)], [1e308 + i * 5e305 for i in range(50, 150)]),  # sum overflows
], ids=["python_ints_beyond_64_bits", "int64_arrays", "float32_arrays", "numpy_scalars", "near_the_float_maximum"])
def test_psi_and_ks_test_read_numbers_of_any_kind_and_size(reference, current):
    as_floats = ([float(v) for v in reference], [float(v) for v in current])
    try:
        got_psi, got_ks = psi(reference, current, bins=4), ks_test(reference, current)
    except NotImplementedError:
        raise
    except Exception as exc:
        pytest.fail(f"Python ints of any size (beyond 2**64 too), NumPy numbers of any dtype and finite floats up to "
                    f"the largest (1e308, even when the sample's sum overflows to inf) are real numbers, read as floats "
                    f"(numpy.asarray(..., dtype=float)); psi or ks_test raised {exc!r}")
    assert got_psi == pytest.approx(brute_force_psi(*as_floats, bins=4), rel=1e-9), (
        f"psi of these values is psi of the same values as Python floats, got {got_psi}"
    )
    expected = stats.ks_2samp(*as_floats)
    assert got_ks == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue)), (
        f"ks_test of these values is ks_test of the same values as Python floats, got {got_ks}"
    )


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [1.0, float("inf")], [-float("inf"), 1.0]])
def test_psi_rejects_empty_or_non_finite_samples(bad):
    with pytest.raises(ValueError):
        psi(bad, [1.0, 2.0])
    with pytest.raises(ValueError):
        psi([1.0, 2.0], bad)


TOO_LARGE_FOR_A_FLOAT = 10**400  # float(10**400) raises OverflowError: no float holds it


@pytest.mark.parametrize("check", [
    pytest.param(lambda ref, cur: psi(ref, cur, bins=2), marks=pytest.mark.task(taskno=1), id="psi"),
    pytest.param(ks_test, marks=pytest.mark.task(taskno=2), id="ks_test"),
    pytest.param(lambda ref, cur: detect_drift(ref, cur, bins=2), marks=pytest.mark.task(taskno=2),
                 id="detect_drift"),
])
@pytest.mark.parametrize("sample", ["reference", "current"])
@pytest.mark.parametrize("huge, shown", [(TOO_LARGE_FOR_A_FLOAT, "10**400"), (-TOO_LARGE_FOR_A_FLOAT, "-10**400")],
                         ids=["10**400", "-10**400"])
def test_an_int_too_large_for_a_float_is_refused(check, sample, huge, shown):
    good, bad = [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, huge]
    samples = (bad, good) if sample == "reference" else (good, bad)
    try:
        got = check(*samples)
    except NotImplementedError:
        raise
    except (ValueError, OverflowError):
        return
    except Exception as exc:
        pytest.fail(f"a {sample} sample holding {shown}, an int too large for a float, is refused like an infinite "
                    f"value (ValueError, or the OverflowError float() raises); got {exc!r} instead")
    pytest.fail(f"a {sample} sample holding {shown}, an int too large for a float, is refused like an infinite value "
                f"(ValueError, or the OverflowError float() raises); got an answer instead: {got!r}")


@pytest.mark.task(taskno=1)
def test_psi_rejects_fewer_than_two_bins_and_a_non_positive_epsilon():
    with pytest.raises(ValueError):
        psi([1.0, 2.0], [1.0, 2.0], bins=1)
    for epsilon in (0.0, -1e-4, float("nan")):
        with pytest.raises(ValueError):
            psi([1.0, 2.0], [1.0, 2.0], epsilon=epsilon)


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("bins", [True, False])
def test_psi_refuses_a_bool_bins(bins):
    # True is 1 and False is 0 to Python: fewer than two bins either way, and no count a caller means.
    try:
        got = psi([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], bins=bins)
    except NotImplementedError:
        raise
    except ValueError:
        return
    except Exception as exc:  # noqa: BLE001 - the message names what came instead
        pytest.fail(f"psi(..., bins={bins}) should raise ValueError like any bins below 2, it raised {exc!r}")
    pytest.fail(f"psi(..., bins={bins}) should raise ValueError like any bins below 2, it returned {got!r}")


@pytest.mark.task(taskno=1)
@settings(max_examples=40)
@given(reference=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=60),
       current=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=60),
       bins=st.integers(2, 12))
def test_psi_equals_the_definition_and_is_never_negative(reference, current, bins):
    got = psi(reference, current, bins=bins)
    expected = brute_force_psi(reference, current, bins)
    assert math.isfinite(got) and got >= -1e-12, f"PSI is a finite, non-negative number, got {got}"
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), (
        f"bins={bins}: expected {expected} from the README's definition, got {got}"
    )


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("bins", [5, 6, 7, 9, 10, 11, 12])
def test_psi_cuts_at_exactly_i_over_bins_even_where_an_edge_lands_on_a_reference_value(bins):
    # With reference 0, 1, ..., n-1 the level i/bins often puts an edge exactly on a reference value (5/7 of 7 is 5.0);
    # a level one ulp off (numpy.linspace gives 0.7142857142857142, not 5/7) moves that edge just below the value,
    # and the value, which belongs to the bin below its edge, into the bin above; or just above it (3/5 of 5 is 3.0,
    # linspace's 0.6000000000000001 makes it 3.0000000000000004), and the next float above 3.0 moves down a bin.
    # One current value halfway to the next reference value keeps the two bins apart (they hold equal shares of
    # the reference, so moving every current value from one to the other would not change PSI).
    # These lengths put an edge exactly on a reference value for every bins tried (11 bins only at n = 34).
    wrong = []
    for n in (6, 7, 8, 10, 11, 15, 16, 19, 22, 34):
        reference = list(map(float, range(n)))
        for k in range(n):
            for value in (float(k), math.nextafter(float(k), math.inf)):
                current = [value] * 3 + [k + 0.5]
                got = psi(reference, current, bins=bins)
                expected = brute_force_psi(reference, current, bins)
                if got != pytest.approx(expected, rel=1e-9, abs=1e-12):
                    wrong.append(f"psi(list(map(float, range({n}))), {current}, bins={bins}) = {got}, "
                                 f"expected {expected}")
    assert not wrong, (
        f"the edges are numpy.quantile(reference, numpy.arange(1, bins) / bins), levels i/bins exactly (not "
        f"numpy.linspace(0, 1, bins + 1), whose levels can be one ulp off), and a value equal to an edge goes to "
        f"the bin below; {len(wrong)} answers differ from that definition, first: {wrong[0]}"
    )


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("value, level", [
    (0.0, "none"), (0.0999, "none"), (0.1, "moderate"), (0.2, "moderate"), (0.25, "moderate"),
    (0.2501, "major"), (3.0, "major"),
])
def test_psi_level_follows_the_rule_of_thumb(value, level):
    assert psi_level(value) == level, f"PSI {value} reads as {level!r}, got {psi_level(value)!r}"


# --- task 2: KS and the verdict --------------------------------------------------


@pytest.mark.task(taskno=2)
@pytest.mark.filterwarnings("ignore:ks_2samp:RuntimeWarning")  # scipy falling back to its asymptotic method
@settings(max_examples=25)
@given(reference=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=80),
       current=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=80))
def test_ks_test_is_the_two_sided_two_sample_test(reference, current):
    expected = stats.ks_2samp(reference, current)
    statistic, pvalue = ks_test(reference, current)
    assert statistic == pytest.approx(expected.statistic) and pvalue == pytest.approx(expected.pvalue), (
        f"expected scipy's two-sided ks_2samp ({expected.statistic}, {expected.pvalue}), got ({statistic}, {pvalue})"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [1.0, float("inf")], [-float("inf"), 1.0]])
def test_ks_test_rejects_empty_or_non_finite_samples(bad):
    with pytest.raises(ValueError):
        ks_test(bad, [1.0, 2.0])
    with pytest.raises(ValueError):
        ks_test([1.0, 2.0], bad)


@pytest.mark.task(taskno=2)
def test_ks_test_and_detect_drift_leave_the_callers_numpy_arrays_as_they_were():
    reference = np.array([3.0, 1.0, 2.0, 5.0, 4.0] * 4)
    current = np.array([9.0, 0.0, 4.5, 2.5])
    before = (reference.copy(), current.copy())
    ks_test(reference, current)
    assert np.array_equal(reference, before[0]) and np.array_equal(current, before[1]), (
        f"ks_test only reads its samples, as psi does; the caller's numpy arrays were changed (sorted in place? "
        f"numpy.asarray of a float array is that same array) to {reference}, {current}"
    )
    detect_drift(reference, current, bins=4)
    assert np.array_equal(reference, before[0]) and np.array_equal(current, before[1]), (
        f"detect_drift only reads its samples; the caller's numpy arrays were changed to {reference}, {current}"
    )


@pytest.mark.task(taskno=2)
def test_detect_drift_reports_psi_level_and_ks_together():
    rng = np.random.default_rng(7)
    reference, current = rng.normal(0, 1, N), rng.normal(1, 1, N)
    report = detect_drift(reference, current)
    assert isinstance(report, DriftReport), f"detect_drift returns a DriftReport, got {type(report)}"
    assert report.psi == pytest.approx(psi(reference, current)), "report.psi is psi() with the same bins"
    assert report.level == psi_level(report.psi), "report.level is psi_level(report.psi)"
    statistic, pvalue = ks_test(reference, current)
    assert (report.ks_statistic, report.ks_pvalue) == (pytest.approx(statistic), pytest.approx(pvalue)), (
        "the report carries the KS statistic and p-value"
    )
    assert report.drifted and report.level == "major", f"a shift of one standard deviation is major drift: {report}"


@pytest.mark.task(taskno=2)
def test_detect_drift_flags_a_significant_ks_even_when_psi_sees_little():
    rng = np.random.default_rng(3)
    reference, current = rng.normal(0, 1, 50_000), rng.normal(0.08, 1, 50_000)
    report = detect_drift(reference, current, alpha=0.01)
    assert report.level == "none" and report.ks_pvalue < 0.01, f"precondition of this example: {report}"
    assert report.drifted, "a KS p-value below alpha is drift, whatever PSI says"
    assert not detect_drift(reference, current, alpha=1e-300).drifted, (
        "with alpha below the p-value and PSI 'none' there is no drift: alpha is the KS cut-off"
    )
    assert not detect_drift(reference, current, alpha=report.ks_pvalue).drifted, (
        "drift is a p-value strictly below alpha: a p-value equal to alpha (and PSI 'none') is no drift"
    )


@pytest.mark.task(taskno=2)
def test_detect_drift_alpha_defaults_to_one_percent():
    rng = np.random.default_rng(12)
    reference, current = rng.normal(0, 1, N), rng.normal(0.05, 1, N)
    _, pvalue = ks_test(reference, current)
    assert 0.01 < pvalue < 0.05 and psi_level(psi(reference, current)) == "none", (
        f"precondition of this example: a KS p-value between 0.01 and 0.05 (got {pvalue}) and PSI 'none'"
    )
    assert not detect_drift(reference, current).drifted, (
        f"the default alpha is 0.01: a KS p-value of {pvalue:.3f} with PSI 'none' is no drift"
    )
    assert detect_drift(reference, current, alpha=0.05).drifted, (
        f"with alpha=0.05 a KS p-value of {pvalue:.3f} is drift"
    )
    for alpha in (np.float32(0.05), np.float64(0.05)):
        try:
            report = detect_drift(reference, current, alpha=alpha)
        except NotImplementedError:
            raise
        except Exception as exc:
            pytest.fail(f"alpha={alpha!r} ({type(alpha).__name__}, from a numpy array or a config) lies in (0, 1), so "
                        f"it is an alpha, a NumPy number or not (isinstance(x, float) is false for a numpy.float32); "
                        f"detect_drift raised {exc!r}")
        assert report.drifted is True, (
            f"with alpha={alpha!r} ({type(alpha).__name__}) a KS p-value of {pvalue:.3f} is drift, reported as the "
            f"plain bool True: {report}"
        )


@pytest.mark.task(taskno=2)
def test_detect_drift_uses_the_given_bins_and_checks_alpha():
    reference, current = np.arange(100.0) ** 2, [3000.0] * 40
    assert detect_drift(reference, current, bins=2).psi == pytest.approx(psi(reference, current, bins=2)), (
        "detect_drift passes `bins` on to psi"
    )
    assert detect_drift(reference, current, bins=np.int64(2)).psi == pytest.approx(psi(reference, current, bins=2)), (
        "a NumPy integer bins (numpy.int64(2)) is a number of bins like 2"
    )
    for alpha in (0.0, 1.0, -0.5, 1.5, float("nan")):
        try:
            report = detect_drift(reference, current, alpha=alpha)
        except ValueError:
            continue
        pytest.fail(f"alpha={alpha} lies outside (0, 1), below 0 or above 1 alike, and must raise ValueError; "
                    f"got {report}")


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("bins", [True, False])
def test_detect_drift_refuses_a_bool_bins(bins):
    try:
        report = detect_drift(np.arange(100.0), np.arange(100.0) + 5.0, bins=bins)
    except NotImplementedError:
        raise
    except ValueError:
        return
    except Exception as exc:  # noqa: BLE001 - the message names what came instead
        pytest.fail(f"detect_drift(..., bins={bins}) should raise ValueError like any bins below 2, it raised {exc!r}")
    pytest.fail(f"detect_drift(..., bins={bins}) should raise ValueError like any bins below 2, it returned {report}")


@pytest.mark.task(taskno=2)
def test_detect_drift_reports_plain_python_values_that_json_can_write():
    reference = np.arange(100.0)
    cases = [(current, alpha) for current in (reference + 5.0, reference + 60.0)  # PSI 'none' (KS decides), 'major'
             for alpha in (0.01, np.float64(0.01))]  # an alpha read from a numpy array or config is a numpy number
    for current, alpha in cases:
        report = detect_drift(reference, current, bins=10, alpha=alpha)
        statistic, pvalue = ks_test(reference, current)
        kinds = {name: type(value).__name__ for name, value in dataclasses.asdict(report).items()}
        assert type(report.drifted) is bool, (
            f"drifted is a plain bool (a numpy.bool_ from comparing a numpy p-value with alpha, or a p-value with "
            f"a numpy alpha ({type(alpha).__name__} here), is not): {kinds}"
        )
        assert all(isinstance(value, float) for value in (report.psi, report.ks_statistic, report.ks_pvalue,
                                                           statistic, pvalue)), (
            f"psi, the KS statistic and p-value are floats, in the report and from ks_test: {kinds}, "
            f"ks_test gave ({type(statistic).__name__}, {type(pvalue).__name__})"
        )
        try:
            json.dumps(dataclasses.asdict(report))
        except TypeError as exc:
            pytest.fail(f"a DriftReport is written as JSON with json.dumps(dataclasses.asdict(report)), "
                        f"but it failed: {exc} ({kinds})")


@pytest.mark.task(taskno=2)
def test_moderate_psi_is_drift_even_when_ks_does_not_reject():
    reference = np.arange(100.0)
    current = [10.0] * 8 + [40.0] * 4 + [60.0] * 4 + [90.0] * 4  # 40 %, 20 %, 20 %, 20 % of the quartile bins
    report = detect_drift(reference, current, bins=4, alpha=0.01)
    assert report.level == "moderate" and report.ks_pvalue > 0.01, f"precondition of this example: {report}"
    assert report.drifted, f"a moderate PSI (0.104) is drift even when KS does not reject at alpha: {report}"


def normal_or_uniform(rng, kind, mu, sigma, n):
    if kind == "normal":
        return rng.normal(mu, sigma, n)
    half_width = sigma * math.sqrt(3)  # a uniform with standard deviation sigma
    return rng.uniform(mu - half_width, mu + half_width, n)


seeds = st.integers(0, 2**32 - 1)
# Two samples of one distribution fail a test at alpha with probability alpha, so among 2**32 seeds some show "drift"
# (seed 33879 gives two normal samples a KS p-value of 5e-7); once Hypothesis finds one, its example database
# replays it on every run and turns a correct answer red. These seeds were checked once for both kinds with the
# reference answer: the smallest KS p-value among them is 5.3e-4 (seed 446, uniform), the largest PSI 0.012.
# (KS and quantile-bin PSI do not change when mu and sigma move and scale the values.)
same_distribution_seeds = st.integers(0, 1999)
locations = st.floats(-100, 100)
scales = st.floats(0.1, 100)
kinds = st.sampled_from(["normal", "uniform"])


@pytest.mark.task(taskno=2)
@settings(max_examples=20)
@given(seed=same_distribution_seeds, kind=kinds, mu=locations, sigma=scales)
def test_samples_from_one_distribution_show_no_drift(seed, kind, mu, sigma):
    rng = np.random.default_rng(seed)
    reference, current = normal_or_uniform(rng, kind, mu, sigma, N), normal_or_uniform(rng, kind, mu, sigma, N)
    report = detect_drift(reference, current, alpha=1e-6)
    assert report.level == "none" and not report.drifted, (
        f"two samples of {N} from one {kind} distribution should show no drift: {report}"
    )


@pytest.mark.task(taskno=2)
@settings(max_examples=20)
@given(seed=seeds, kind=kinds, mu=locations, sigma=scales, shift=st.floats(0.5, 3), sign=st.sampled_from([-1, 1]))
def test_a_mean_shift_of_half_a_standard_deviation_or_more_is_drift(seed, kind, mu, sigma, shift, sign):
    rng = np.random.default_rng(seed)
    reference = normal_or_uniform(rng, kind, mu, sigma, N)
    current = normal_or_uniform(rng, kind, mu + sign * shift * sigma, sigma, N)
    report = detect_drift(reference, current, alpha=1e-6)
    assert report.drifted and report.level in ("moderate", "major") and report.ks_pvalue < 1e-6, (
        f"a mean shift of {sign * shift:.2f} standard deviations should be moderate or major drift: {report}"
    )


@pytest.mark.task(taskno=2)
@settings(max_examples=20)
@given(seed=seeds, kind=kinds, mu=locations, sigma=scales, factor=st.floats(2, 5), wider=st.booleans())
def test_scaling_the_spread_by_two_or_more_is_major_drift(seed, kind, mu, sigma, factor, wider):
    rng = np.random.default_rng(seed)
    reference = normal_or_uniform(rng, kind, mu, sigma, N)
    current = normal_or_uniform(rng, kind, mu, sigma * factor if wider else sigma / factor, N)
    report = detect_drift(reference, current, alpha=1e-6)
    assert report.drifted and report.level == "major", (
        f"a spread {'wider' if wider else 'narrower'} by {factor:.2f}x should be major drift: {report}"
    )

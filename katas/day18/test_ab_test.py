"""Task 2: the two-proportion z test and the sample size per variant.

The oracle is the textbook formula computed here with scipy.stats.norm (what statsmodels'
`proportions_ztest` and the usual sample-size calculators compute).
"""

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from ab_test import samples_per_variant, two_proportion_z_test

NAN = float("nan")


def oracle_z_test(sa, na, sb, nb):
    pooled = (sa + sb) / (na + nb)
    if pooled in (0, 1):
        return 0.0, 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    z = (sb / nb - sa / na) / se
    return z, 2 * norm.sf(abs(z))


def oracle_samples(p1, effect, alpha=0.05, power=0.8):
    p2 = p1 + effect
    p_bar = (p1 + p2) / 2
    n = (norm.ppf(1 - alpha / 2) * math.sqrt(2 * p_bar * (1 - p_bar))
         + norm.ppf(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / effect**2
    return n


def assert_ceil_of(got, exact, what):
    assert isinstance(got, int) and not isinstance(got, bool), (
        f"{what} should be a whole number of users as a Python int (math.ceil gives one), got {got!r} of type "
        f"{type(got).__name__}: a numpy.int64 is not an int (json.dumps refuses it)")
    allowed = {math.ceil(exact)}
    if abs(exact - round(exact)) < 1e-6 * max(1.0, exact):  # float noise at an exact integer
        allowed |= {round(exact), round(exact) + 1}
    assert got in allowed, f"{what}: the formula gives {exact:.4f}, so ceil is {math.ceil(exact)}; got {got}"


# --- z test -----------------------------------------------------------------------------------

@pytest.mark.task(taskno=2)
def test_z_test_known_example():
    z, p = two_proportion_z_test(100, 1000, 130, 1000)
    assert z == pytest.approx(2.1027406, rel=1e-6), f"10 % vs 13 % of 1000 users each: pooled z is 2.1027, got {z}"
    assert p == pytest.approx(0.0354885, rel=1e-5), f"its two-sided p-value is 0.0355, got {p}"


@pytest.mark.task(taskno=2)
def test_z_is_b_minus_a():
    z, p = two_proportion_z_test(130, 1000, 100, 1000)
    assert z == pytest.approx(-2.1027406, rel=1e-6), f"b worse than a must give a negative z, got {z}"
    assert p == pytest.approx(0.0354885, rel=1e-5), f"the two-sided p-value does not depend on the sign, got {p}"


@pytest.mark.task(taskno=2)
def test_unequal_group_sizes_use_the_pooled_rate():
    z, p = two_proportion_z_test(30, 200, 500, 2000)
    ez, ep = oracle_z_test(30, 200, 500, 2000)
    assert z == pytest.approx(ez, rel=1e-9), f"pooled z for 30/200 vs 500/2000 is {ez:.6f}, got {z}"
    assert p == pytest.approx(ep, rel=1e-9), f"p-value should be {ep:.6f}, got {p}"


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("counts", [(0, 50, 0, 70), (50, 50, 70, 70), (0, 1, 0, 1)])
def test_no_variance_gives_zero_and_one(counts):
    assert two_proportion_z_test(*counts) == (0.0, 1.0), (
        f"with a pooled rate of 0 or 1 ({counts}) there is no evidence of a difference: expected (0.0, 1.0)")


@pytest.mark.task(taskno=2)
def test_identical_rates_give_z_zero_and_p_one():
    z, p = two_proportion_z_test(25, 100, 50, 200)
    assert z == pytest.approx(0.0, abs=1e-12) and p == pytest.approx(1.0), f"equal rates: expected (0, 1), got {(z, p)}"


@pytest.mark.task(taskno=2)
def test_a_huge_difference_has_a_tiny_but_sane_p_value():
    z, p = two_proportion_z_test(100, 10_000, 400, 10_000)
    ez, ep = oracle_z_test(100, 10_000, 400, 10_000)
    assert z == pytest.approx(ez, rel=1e-9), f"z should be {ez}, got {z}"
    assert 0.0 < p <= 1e-12 and p == pytest.approx(ep, rel=1e-6), (
        f"p should be about {ep:.3g}, got {p}: a p-value is never exactly 0 (2 * (1 - cdf) rounds it to 0; "
        "the upper tail norm.sf(|z|) keeps it)")


@pytest.mark.task(taskno=2)
@settings(max_examples=200)
@given(
    na=st.integers(1, 1_000_000), nb=st.integers(1, 1_000_000),
    fa=st.floats(0, 1), fb=st.floats(0, 1),
)
def test_z_test_matches_the_pooled_formula(na, nb, fa, fb):
    sa, sb = round(fa * na), round(fb * nb)
    z, p = two_proportion_z_test(sa, na, sb, nb)
    ez, ep = oracle_z_test(sa, na, sb, nb)
    assert z == pytest.approx(ez, rel=1e-7, abs=1e-9), f"z for {sa}/{na} vs {sb}/{nb} should be {ez}, got {z}"
    assert p == pytest.approx(ep, rel=1e-7, abs=1e-12), f"p for {sa}/{na} vs {sb}/{nb} should be {ep}, got {p}"
    assert 0.0 <= p <= 1.0, f"a p-value is a probability, got {p}"


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("counts", [
    (0, 0, 1, 10), (1, 10, 0, 0), (0, -5, 1, 10), (1, 10, 0, -1),
    (11, 10, 1, 10), (1, 10, 11, 10), (-1, 10, 1, 10), (1, 10, -1, 10),
], ids=["na=0", "nb=0", "na<0", "nb<0", "sa>na", "sb>nb", "sa<0", "sb<0"])
def test_z_test_rejects_impossible_counts(counts):
    with pytest.raises(ValueError):
        two_proportion_z_test(*counts)


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("counts", [(100, 1000, 130, 1000), (400_000_000, 4_000_000_000, 400_100_000, 4_000_000_000),
                                    (3_000_000_000, 5_000_000_000, 2_999_000_000, 4_999_000_000)],
                         ids=["thousands", "billions", "unequal-billions"])
def test_numpy_integer_counts_give_the_python_answer(counts):
    np = pytest.importorskip("numpy")
    ez, ep = oracle_z_test(*counts)
    with np.errstate(over="ignore"):  # a wrapped product must give a wrong answer here, not a warning
        z, p = two_proportion_z_test(*(np.int64(c) for c in counts))
    assert z == pytest.approx(ez, rel=1e-9) and p == pytest.approx(ep, rel=1e-6, abs=1e-300), (
        f"counts {counts} as numpy.int64 (as a DataFrame gives them) must give the same z and p-value as Python ints, "
        f"{(ez, ep)}; got {(z, p)}: does a product of counts (such as n_a * n_b) wrap around at 64 bits?")


@pytest.mark.task(taskno=2)
def test_z_test_accepts_the_boundaries():
    z, p = two_proportion_z_test(0, 10, 10, 10)
    assert z == pytest.approx(oracle_z_test(0, 10, 10, 10)[0]), "0 of 10 vs 10 of 10 is a valid (extreme) comparison"
    two_proportion_z_test(10, 10, 0, 1)


# --- sample size ---------------------------------------------------------------------------------

@pytest.mark.task(taskno=2)
def test_samples_known_example():
    got = samples_per_variant(0.10, 0.02)
    assert got == 3841, f"10 % baseline, +2 points, alpha 0.05, power 0.8 needs 3841 users per variant, got {got}"


@pytest.mark.task(taskno=2)
def test_samples_uses_alpha_and_power():
    for args in [(0.10, 0.02, 0.01, 0.8), (0.10, 0.02, 0.05, 0.9), (0.3, 0.05, 0.1, 0.95), (0.5, 0.01, 0.2, 0.5)]:
        assert_ceil_of(samples_per_variant(*args), oracle_samples(*args), f"samples_per_variant{args}")
    assert_ceil_of(samples_per_variant(0.2, 0.03, alpha=0.01), oracle_samples(0.2, 0.03, 0.01), "alpha=0.01")
    assert_ceil_of(samples_per_variant(0.2, 0.03, power=0.95), oracle_samples(0.2, 0.03, 0.05, 0.95), "power=0.95")


@pytest.mark.task(taskno=2)
def test_a_negative_effect_is_a_drop_from_the_baseline():
    assert_ceil_of(samples_per_variant(0.10, -0.02), oracle_samples(0.10, -0.02), "a 2-point drop from 10 %")
    assert samples_per_variant(0.10, -0.02) != samples_per_variant(0.10, 0.02), (
        "p2 = baseline + effect: a drop to 8 % and a rise to 12 % need different sizes")


@pytest.mark.task(taskno=2)
@settings(max_examples=150)
@given(p1=st.floats(0.001, 0.999), effect=st.floats(-0.5, 0.5), alpha=st.floats(0.001, 0.3), power=st.floats(0.05, 0.99))
def test_samples_match_the_formula(p1, effect, alpha, power):
    assume(abs(effect) >= 0.002 and 0.0 < p1 + effect < 1.0)
    assert_ceil_of(samples_per_variant(p1, effect, alpha, power), oracle_samples(p1, effect, alpha, power),
                   f"samples_per_variant({p1}, {effect}, {alpha}, {power})")


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("args", [
    (0.0, 0.01), (1.0, -0.01), (-0.1, 0.2), (1.2, -0.5), (NAN, 0.01),
    (0.1, 0.0), (0.1, 0.9), (0.1, -0.1), (0.1, NAN), (0.5, 0.6),
    (0.1, 0.02, 0.0, 0.8), (0.1, 0.02, 1.0, 0.8), (0.1, 0.02, NAN, 0.8),
    (0.1, 0.02, 0.05, 0.0), (0.1, 0.02, 0.05, 1.0), (0.1, 0.02, 0.05, NAN), (0.1, 0.02, -0.05, 0.8),
], ids=["p1=0", "p1=1", "p1<0", "p1>1", "p1=nan", "effect=0", "p2=1", "p2=0", "effect=nan", "p2>1",
        "alpha=0", "alpha=1", "alpha=nan", "power=0", "power=1", "power=nan", "alpha<0"])
def test_samples_reject_impossible_inputs(args):
    with pytest.raises(ValueError):
        samples_per_variant(*args)

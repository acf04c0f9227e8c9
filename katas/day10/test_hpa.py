"""Task 1: the HPA replica rule. Read these tests as the specification.

The rule, exactly as the Kubernetes controller applies it in float arithmetic:
ratio = current_value / target_value; if abs(ratio - 1) <= tolerance keep
current_replicas, else ceil(current_replicas * ratio); then clamp to [min, max].
"""

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st

from hpa import desired_replicas

pytestmark = pytest.mark.task(taskno=1)


def rule(current_replicas, current_value, target_value, min_replicas, max_replicas, tolerance=0.1):
    """A brute-force reading of the rule: the smallest allowed count that is >= the wanted count."""
    ratio = current_value / target_value
    wanted = current_replicas if abs(ratio - 1) <= tolerance else current_replicas * ratio
    for count in range(min_replicas, max_replicas + 1):
        if count >= wanted:
            return count
    return max_replicas


# --- worked examples ----------------------------------------------------------------------


def test_doubles_the_replicas_when_load_is_twice_the_target():
    assert desired_replicas(4, 200.0, 100.0, 1, 20) == 8, \
        "4 replicas at 200% of target: ratio 2.0, so ceil(4 * 2.0) = 8"


def test_scales_down_when_load_is_far_below_the_target():
    assert desired_replicas(10, 20.0, 100.0, 1, 20) == 2, \
        "10 replicas at 20% of target: ratio 0.2, so ceil(10 * 0.2) = 2"


def test_rounds_up_never_to_nearest():
    assert desired_replicas(3, 150.0, 100.0, 1, 20) == 5, \
        "3 replicas at ratio 1.5 want 4.5 pods; the HPA rounds up to 5 (rounding to nearest gives 4)"
    assert desired_replicas(10, 62.0, 100.0, 1, 20) == 7, \
        "10 replicas at ratio 0.62 want 6.2 pods; rounding up gives 7 (truncating or rounding gives 6)"


def test_keeps_the_count_inside_the_tolerance_band():
    assert desired_replicas(5, 105.0, 100.0, 1, 20) == 5, \
        "ratio 1.05 is within the default tolerance 0.1, so 5 replicas stay 5 (no flapping on noise)"
    assert desired_replicas(5, 95.0, 100.0, 1, 20) == 5, "ratio 0.95 is within tolerance 0.1: stay at 5"


def test_default_tolerance_is_ten_percent():
    assert desired_replicas(10, 109.0, 100.0, 1, 50) == 10, "ratio 1.09 is inside the default tolerance of 0.1"
    assert desired_replicas(10, 125.0, 100.0, 1, 50) == 13, "ratio 1.25 is outside 0.1: ceil(10 * 1.25) = 13"
    assert desired_replicas(10, 111.0, 100.0, 1, 50) == 12, \
        "ratio 1.11 is just outside the default tolerance of 0.1: ceil(10 * 1.11) = 12"
    assert desired_replicas(10, 89.0, 100.0, 1, 50) == 9, \
        "ratio 0.89 is just outside the default tolerance of 0.1: ceil(10 * 0.89) = 9"


def test_a_ratio_exactly_on_the_tolerance_edge_keeps_the_count():
    # 1.125 and 0.125 are exact in binary floating point, so the edge is exactly the edge.
    assert desired_replicas(8, 112.5, 100.0, 1, 20, tolerance=0.125) == 8, \
        "abs(1.125 - 1) == 0.125 is within a tolerance of 0.125 (the band includes its edge: <=)"
    assert desired_replicas(8, 87.5, 100.0, 1, 20, tolerance=0.125) == 8, \
        "abs(0.875 - 1) == 0.125 is within a tolerance of 0.125"


def test_a_ratio_just_past_the_edge_scales():
    assert desired_replicas(8, 125.0, 100.0, 1, 20, tolerance=0.125) == 10, \
        "ratio 1.25 is past a tolerance of 0.125: ceil(8 * 1.25) = 10"


def test_the_band_compares_the_ratio_not_the_relative_difference():
    assert desired_replicas(10, 6.3, 7.0, 1, 20) == 10, \
        ("ratio = 6.3 / 7.0 is 0.9 and abs(0.9 - 1) <= 0.1, so 10 replicas stay 10; the algebraically equal "
         "abs(6.3 - 7.0) / 7.0 is 0.10000000000000002 in floats and would scale to 9")


def test_zero_tolerance_reacts_to_any_change():
    assert desired_replicas(4, 101.0, 100.0, 1, 20, tolerance=0.0) == 5, \
        "with tolerance 0, ratio 1.01 scales: ceil(4 * 1.01) = 5"
    assert desired_replicas(4, 100.0, 100.0, 1, 20, tolerance=0.0) == 4, \
        "with tolerance 0, ratio exactly 1 keeps 4 replicas"


def test_computes_the_ratio_first_in_float_arithmetic():
    assert desired_replicas(3, 0.2, 0.1, 1, 20) == 6, \
        ("ratio = 0.2 / 0.1 is exactly 2.0 in floats, so ceil(3 * 2.0) = 6; multiplying first, "
         "3 * 0.2 / 0.1 is 6.000000000000001 and rounds up to 7")
    assert desired_replicas(3, 0.8, 0.3, 1, 20) == 8, \
        "ratio = 0.8 / 0.3 first, then ceil(3 * ratio) = 8 (3 * 0.8 / 0.3 would give 8.000000000000002, so 9)"


def test_float_noise_above_a_whole_number_still_rounds_up():
    assert desired_replicas(9, 0.2, 0.3, 1, 20) == 7, \
        ("ratio = 0.2 / 0.3 is 0.6666666666666667 in floats and 9 * ratio is 6.000000000000001, which ceil "
         "rounds up to 7 (rounding the product to a few places, or subtracting an epsilon, first gives 6)")
    assert desired_replicas(1, 2.1, 0.7, 1, 20) == 4, \
        ("ratio = 2.1 / 0.7 is 3.0000000000000004 in floats, which ceil rounds up to 4 (subtracting even "
         "sys.float_info.epsilon before ceil gives 3)")


def test_a_ratio_a_float_step_outside_the_band_scales():
    assert desired_replicas(4, 0.3, 0.4, 1, 20, tolerance=0.25) == 3, \
        ("ratio = 0.3 / 0.4 is 0.7499999999999999 in floats and abs(ratio - 1) is 0.2500000000000001, past a "
         "tolerance of 0.25: ceil(4 * ratio) = 3 (widening the band by even sys.float_info.epsilon keeps 4)")
    assert desired_replicas(4, 5.4, 4.5, 1, 20, tolerance=0.2) == 5, \
        ("ratio = 5.4 / 4.5 is 1.2000000000000002 in floats, past a tolerance of 0.2: "
         "ceil(4 * ratio) = 5, not 4")
    assert desired_replicas(6, 2.4, 3.0, 1, 20, tolerance=0.2) == 5, \
        ("ratio = 2.4 / 3.0 is 0.7999999999999999 in floats, past a tolerance of 0.2: ceil(6 * ratio) = 5 "
         "(comparing the pod counts, abs(6 * ratio - 6) <= 0.2 * 6, rounds differently and keeps 6)")


def test_clamps_to_max_replicas():
    assert desired_replicas(5, 1000.0, 100.0, 2, 12) == 12, "ratio 10 wants 50 pods but maxReplicas is 12"


def test_clamps_to_min_replicas():
    assert desired_replicas(5, 1.0, 100.0, 3, 12) == 3, "ratio 0.01 wants 1 pod but minReplicas is 3"


def test_zero_load_scales_to_min_replicas():
    assert desired_replicas(6, 0.0, 100.0, 2, 10) == 2, "no load at all wants 0 pods; minReplicas 2 wins"


def test_clamps_even_inside_the_tolerance_band():
    assert desired_replicas(1, 100.0, 100.0, 3, 10) == 3, \
        "1 replica is below minReplicas 3: on target, the count is still raised to 3"
    assert desired_replicas(15, 100.0, 100.0, 3, 10) == 10, \
        "15 replicas are above maxReplicas 10: on target, the count is still lowered to 10"


def test_ratio_is_load_over_target_not_the_inverse():
    assert desired_replicas(2, 300.0, 100.0, 1, 20) == 6, "load 3x the target should triple the replicas"


def test_answers_a_plain_int():
    result = desired_replicas(3, 150.0, 100.0, 1, 20)
    assert type(result) is int, f"the replica count should be an int, not {type(result).__name__}"


def test_accepts_whole_numbers_for_the_float_arguments():
    assert desired_replicas(4, 90, 60, 1, 10) == 6, \
        "4 pods at 90 against a target of 60 (ints are valid floats): ratio 1.5, so ceil(4 * 1.5) = 6"
    assert desired_replicas(4, 101, 100, 1, 20, tolerance=0) == 5, \
        "a tolerance of 0 given as an int is valid: ratio 1.01 scales to ceil(4 * 1.01) = 5"
    assert desired_replicas(7, 29, 7, 1, 100) == 30, \
        ("whole numbers follow the same float arithmetic: 29 / 7 is 4.142857142857143 and 7 * ratio is "
         "29.000000000000004, which ceil rounds up to 30 (an exact Fraction(29, 7) gives 29)")


def test_accepts_numpy_numbers():
    assert desired_replicas(np.int64(4), np.float64(90.0), np.float32(60.0), np.int64(1), np.int32(10)) == 6, \
        ("NumPy numbers are valid arguments (a count from a DataFrame is a numpy.int64, a metric may be a "
         "numpy.float32): 4 pods at 90 against 60 is ratio 1.5, so ceil(4 * 1.5) = 6")
    cases = [
        (desired_replicas(np.int64(5), np.float32(105.0), np.float64(100.0), np.int32(1), np.int64(20),
                          tolerance=np.float64(0.1)), 5, "inside the band (ratio 1.05 within 0.1), 5 stays 5"),
        (desired_replicas(np.int64(4), 900.0, 100.0, np.int64(1), np.int64(10)), 10, "clamped to max_replicas 10"),
        (desired_replicas(np.int64(4), 1.0, 100.0, np.int64(2), np.int64(10)), 2, "clamped to min_replicas 2"),
    ]
    for got, expected, what in cases:
        assert type(got) is int and got == expected, \
            (f"NumPy numbers in, a Python int out (the README: return an int; a numpy.int64 breaks json.dumps "
             f"of a scaling decision): {what}, got {got!r} of type {type(got).__name__}")
    with pytest.raises(ValueError):
        desired_replicas(np.int64(3), np.float32("nan"), 100.0, 1, 10)
        pytest.fail("a numpy.float32 NaN current_value should raise ValueError like a Python NaN")


def test_a_float32_metric_follows_plain_float_arithmetic():
    cases = [
        (desired_replicas(10, np.float32(90.0), 100.0, 1, 20), 10,
         "10 pods at a float32 90 against 100: in plain floats 90 / 100 is 0.9 and abs(0.9 - 1) is "
         "0.09999999999999998, inside the band, so 10 stay 10 (divided in float32, the ratio is 0.8999999761581421, "
         "just outside the band, and 10 pods become 9)"),
        (desired_replicas(10, np.float32(90.0), np.float32(100.0), 1, 20), 10,
         "the same with both numbers float32 (a metric and a target read from one DataFrame): 10 stay 10"),
        (desired_replicas(7, np.float32(290.0), np.float32(70.0), 1, 100), 30,
         "7 pods at a float32 290 against a float32 70: in plain floats 7 * (290 / 70) is 29.000000000000004, "
         "which ceil rounds up to 30 (with the ratio taken in float32 the count comes out 29)"),
    ]
    for got, expected, what in cases:
        assert got == expected, \
            (f"a numpy.float32 metric is a number like any other and follows the same rule in plain (64-bit) float "
             f"arithmetic: convert it with float() before dividing; {what}; got {got!r}")


@pytest.mark.parametrize("args, expected, what", [
    ((7, Fraction(29), Fraction(7), 1, 100), 30,
     ("7 pods at Fraction(29) against Fraction(7): in floats 7 * (29 / 7) is 29.000000000000004, which ceil "
      "rounds up to 30 (divided exactly, as fractions, it is 29)")),
    ((7, Decimal(29), Decimal(7), 1, 100), 30,
     ("7 pods at Decimal(29) against Decimal(7): in floats 7 * (29 / 7) is 29.000000000000004, which ceil "
      "rounds up to 30 (divided as Decimals, it comes out 29)")),
    ((10, 90.0, Decimal(100), 1, 20), 10,
     ("10 pods at a float 90.0 against a Decimal(100) target: in floats 90 / 100 is 0.9, inside the band, so "
      "10 stay 10 (a float cannot be divided by a Decimal, so turn each number into a float first)")),
    ((4, 75.0, 100.0, 1, 20, Decimal("0.2499999999999999999999")), 4,
     ("4 pods at 75 against 100 with tolerance Decimal('0.2499999999999999999999'), which is 0.25 as a float: "
      "|0.75 - 1| = 0.25 is inside the band, so 4 stay 4 (the tolerance follows the float rule too)")),
    ((4, 75.0, 100.0, 1, 20, Fraction(1, 4) - Fraction(1, 10**30)), 4,
     ("4 pods at 75 against 100 with tolerance 1/4 - 1/10**30, which is 0.25 as a float: |0.75 - 1| = 0.25 is "
      "inside the band, so 4 stay 4 (the tolerance follows the float rule too)")),
], ids=["fraction", "decimal", "float-metric-decimal-target", "decimal-tolerance", "fraction-tolerance"])
def test_decimal_and_fraction_follow_the_float_rule(args, expected, what):
    got = desired_replicas(*args)
    assert type(got) is int and got == expected, \
        (f"a Decimal or a Fraction is a valid number and follows the same rule in plain float arithmetic, and the "
         f"answer is a Python int: {what}; got {got!r} of type {type(got).__name__}")


@pytest.mark.parametrize("args, kwargs, expected, what", [
    ((True, 300.0, 100.0, True, 10), {}, 3,
     "1 pod (current_replicas=True) at 3x the target, with min_replicas=True: ceil(1 * 3.0) = 3"),
    ((2, 300.0, 100.0, 1, 10), {"tolerance": False}, 6,
     "2 pods at 3x the target with tolerance=False (a tolerance of 0): ceil(2 * 3.0) = 6"),
    ((3, 0.0, 100.0, True, 10), {}, 1,
     "3 pods at no load go down to min_replicas=True, the count 1 (an int 1, not the True it came as)"),
    ((3, 900.0, 100.0, 1, True), {}, 1,
     "3 pods at 9x the target are capped at max_replicas=True, the count 1 (an int 1, not the True it came as)"),
    ((2, True, 0.5, 1, 10), {}, 4, "2 pods at a metric of True (1) against a target of 0.5: ceil(2 * 2.0) = 4"),
    ((4, 3.0, True, 1, 20), {}, 12, "4 pods at a metric of 3.0 against a target of True (1): ceil(4 * 3.0) = 12"),
], ids=["bool-counts", "bool-tolerance", "bool-min-wins", "bool-max-wins", "bool-metric", "bool-target"])
def test_a_bool_counts_as_the_number_it_equals(args, kwargs, expected, what):
    got = desired_replicas(*args, **kwargs)
    assert type(got) is int and got == expected, \
        (f"a bool counts as the number it equals (True is 1, False is 0), and the answer is a Python int: "
         f"{what}; got {got!r} of type {type(got).__name__}")


def test_min_equal_to_max_pins_the_count():
    assert desired_replicas(3, 900.0, 100.0, 4, 4) == 4, "min == max == 4 always answers 4"


def test_keeps_a_huge_count_exactly_inside_the_band():
    huge = 2**53 + 1  # the first whole number a float cannot hold
    assert desired_replicas(huge, 100.0, 100.0, 1, 2**60) == huge, \
        (f"on target the count stays current_replicas exactly ({huge}); multiplying it by a factor of 1.0 "
         "turns it into a float first, which rounds it to 2**53")


def test_each_call_answers_from_all_of_its_arguments():
    assert desired_replicas(4, 0.0, 100.0, 1, 20) == 1, "no load with the default tolerance: ceil(4 * 0) = 0, so 1"
    assert desired_replicas(4, 0.0, 100.0, 1, 20, tolerance=1.0) == 4, \
        ("the same numbers with tolerance=1.0 keep 4 replicas (abs(0 - 1) <= 1): an answer remembered from "
         "the call before, which had another tolerance, is stale")
    with pytest.raises(ValueError):
        desired_replicas(4, 0.0, 100.0, 1, 20, tolerance=-0.5)
        pytest.fail("a negative tolerance should raise ValueError, even after valid calls with the same numbers")


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "why"), [
    ((0, 50.0, 100.0, 1, 10), "current_replicas below 1"),
    ((-1, 50.0, 100.0, 1, 10), "negative current_replicas"),
    ((3, -0.5, 100.0, 1, 10), "negative current_value"),
    ((3, 50.0, 0.0, 1, 10), "target_value of 0 (division by zero)"),
    ((3, 50.0, -10.0, 1, 10), "negative target_value"),
    ((3, 50.0, 100.0, 0, 10), "min_replicas below 1"),
    ((3, 50.0, 100.0, 5, 4), "max_replicas below min_replicas"),
    ((0, 100.0, 100.0, 1, 10), "current_replicas below 1, even with the load on target"),
    ((3, 100.0, 100.0, 0, 10), "min_replicas below 1, even with the load on target"),
    ((3, 100.0, 100.0, 5, 4), "max_replicas below min_replicas, even with the load on target"),
    ((3, 50.0, 100.0, -2, 10), "negative min_replicas"),
    ((3, 0.0, -10.0, 1, 10), "negative target_value, even with no load"),
    ((3, -100.0, -100.0, 1, 10), "negative current_value and target_value, even though their ratio is 1"),
    ((3, -50.0, 100.0, 1, 10, 2.0), "negative current_value, even inside a band wide enough to hold its ratio"),
    ((0, 50.0, 100.0, 4, 4), "current_replicas below 1, even when min_replicas == max_replicas pins the answer"),
    ((3, 50.0, -10.0, 4, 4), "negative target_value, even when min_replicas == max_replicas pins the answer"),
    ((3, 50.0, 100.0, 0, 0), "min_replicas below 1, even when it equals max_replicas"),
    ((3, 50.0, 100.0, 4, 4, -0.5), "negative tolerance, even when min_replicas == max_replicas pins the answer"),
    ((3, math.nan, 100.0, 1, 10), "a NaN current_value (a metric that could not be read)"),
    ((3, 50.0, math.nan, 1, 10), "a NaN target_value"),
    ((3, math.nan, 100.0, 1, 10, math.inf), "a NaN current_value, even inside a band that takes every ratio"),
    ((3, math.nan, 100.0, 4, 4), "a NaN current_value, even when min_replicas == max_replicas pins the answer"),
    ((3, 50.0, math.nan, 1, 10, 0.0), "a NaN target_value, even with a tolerance of 0"),
    ((3, Decimal("NaN"), 100.0, 1, 10), "a Decimal NaN current_value (comparing it with < raises InvalidOperation)"),
    ((3, 50.0, Decimal("NaN"), 1, 10), "a Decimal NaN target_value"),
    ((3, 50.0, 100.0, 1, 10, Decimal("NaN")), "a Decimal NaN tolerance"),
])
def test_rejects_impossible_arguments(args, why):
    with pytest.raises(ValueError):
        desired_replicas(*args)
        pytest.fail(f"{why} should raise ValueError")


@pytest.mark.parametrize("args, why", [
    ((3, math.inf, 100.0, 1, 10), "an infinite current_value"),
    ((3, math.inf, 100.0, 4, 4), "an infinite current_value, even when min_replicas == max_replicas pins the answer"),
    ((3, math.inf, 100.0, 1, 10, math.inf), "an infinite current_value, even inside a band that takes every ratio"),
    ((3, np.float64("inf"), 100.0, 1, 10), "an infinite numpy.float64 current_value"),
    ((3, np.float32("inf"), 100.0, 1, 10), "an infinite numpy.float32 current_value"),
    ((2, 1e308, 1e-10, 1, 10), "a ratio 1e308 / 1e-10 that overflows to infinity"),
    ((2, 1e308, 1e-10, 1, 10, math.inf), "a ratio 1e308 / 1e-10 that overflows, even inside a band that takes "
                                         "every ratio"),
    ((100, 1e300, 1e-7, 1, 10), "a ratio of 1e307 whose product with 100 replicas overflows to infinity"),
    ((2, 10**400, 1, 1, 10), "a whole-number current_value too large for a float (10**400)"),
    ((2, Fraction(10**400), 1, 1, 10), "a Fraction current_value too large for a float (10**400)"),
    ((3, 50.0, Decimal("1e-400"), 1, 10), "a Decimal target_value too small for a float: it becomes 0.0, and "
                                          "dividing by it raises ZeroDivisionError"),
    ((3, 50.0, Fraction(1, 10**400), 1, 10), "a Fraction target_value too small for a float: it becomes 0.0, and "
                                             "dividing by it raises ZeroDivisionError"),
], ids=["inf", "inf-pinned", "inf-in-an-infinite-band", "numpy-float64-inf", "numpy-float32-inf", "ratio-overflows",
        "ratio-overflows-in-an-infinite-band", "product-overflows", "huge-whole-number", "huge-fraction",
        "tiny-decimal-target", "tiny-fraction-target"])
def test_an_infinite_metric_or_an_overflowing_ratio_is_a_value_error(args, why):
    try:
        got = desired_replicas(*args)
    except ValueError:
        return
    except NotImplementedError:
        raise
    except Exception as error:  # OverflowError from ceil(inf), say
        pytest.fail(f"{why} should raise ValueError like the other bad inputs, not {type(error).__name__}: {error}")
    pytest.fail(f"{why} should raise ValueError (it must never turn into a replica count), got {got!r}")


def test_rejects_a_negative_tolerance():
    with pytest.raises(ValueError):
        desired_replicas(3, 50.0, 100.0, 1, 10, tolerance=-0.01)
        pytest.fail("a negative tolerance should raise ValueError")


def test_rejects_a_nan_tolerance():
    with pytest.raises(ValueError):
        desired_replicas(10, 100.0, 100.0, 1, 50, tolerance=math.nan)
        pytest.fail("a NaN tolerance (a setting that could not be read) should raise ValueError: every comparison "
                    "with NaN is false, so it would switch the band off and every wobble would move the count")


def test_the_band_is_the_rules_own_comparison_in_floats():
    got = desired_replicas(10, 110.0, 100.0, 1, 50)
    assert got == 11, (
        f"110 against a target of 100 is a ratio of 1.1, and abs(1.1 - 1) is 0.10000000000000009 in floats: just "
        f"past the 0.1 band, so ceil(10 * 1.1) = 11 pods, as the controller computes; got {got} (was the band "
        "checked as 1 - tolerance <= ratio <= 1 + tolerance, which rounds differently?)")


def test_a_tolerance_above_one_is_valid():
    assert desired_replicas(4, 250.0, 100.0, 1, 20, tolerance=1.5) == 4, \
        "only a negative tolerance is invalid: ratio 2.5 is within a tolerance of 1.5, so 4 replicas stay 4"
    assert desired_replicas(4, 300.0, 100.0, 1, 20, tolerance=1.5) == 12, \
        "ratio 3.0 is past a tolerance of 1.5: ceil(4 * 3.0) = 12"
    assert desired_replicas(4, 5000.0, 100.0, 1, 20, tolerance=math.inf) == 4, \
        "an infinite tolerance is valid: every ratio is inside the band, so 4 replicas stay 4"


def test_no_load_inside_a_wide_band_keeps_the_count():
    assert desired_replicas(4, 0.0, 100.0, 1, 20, tolerance=1.0) == 4, \
        "no load is ratio 0, and abs(0 - 1) == 1 is within a tolerance of 1: 4 replicas stay 4 (the band comes first)"
    assert desired_replicas(4, 0.0, 100.0, 2, 20, tolerance=1.5) == 4, \
        "no load is ratio 0, within a tolerance of 1.5: 4 replicas stay 4, not minReplicas 2"


def test_accepts_the_edges_of_the_valid_range():
    assert desired_replicas(1, 0.0, 0.001, 1, 1, tolerance=0.0) == 1, \
        "current_replicas 1, current_value 0, min == max and tolerance 0 are all valid"


# --- properties ----------------------------------------------------------------------------------

# No "explain" phase: it re-runs every failing example many times, which makes a first
# run against the stub slow and adds nothing for a function of plain numbers.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)

replicas = st.integers(min_value=1, max_value=60)
loads = st.floats(min_value=0.0, max_value=5000.0, allow_nan=False, allow_infinity=False)
targets = st.floats(min_value=0.01, max_value=1000.0, allow_nan=False, allow_infinity=False)
tolerances = st.sampled_from([0.0, 0.05, 0.1, 0.125, 0.2, 0.5]) | st.floats(0.0, 1.0)


@st.composite
def bounds(draw):
    low = draw(st.integers(min_value=1, max_value=20))
    return low, draw(st.integers(min_value=low, max_value=low + 40))


@st.composite
def near_the_band_edge(draw):
    """Loads right at target * (1 +- tolerance), where float rounding decides the outcome."""
    target = draw(targets)
    tolerance = draw(tolerances)
    sign = draw(st.sampled_from([1, -1]))
    nudge = draw(st.sampled_from([0.0, 1e-12, -1e-12, 1e-9, -1e-9]))
    load = target * (1 + sign * tolerance) * (1 + nudge)
    assume(load >= 0)
    ratio = load / target
    # Where float rounding makes `1 - tol <= ratio <= 1 + tol` disagree with the rule's
    # `abs(ratio - 1) <= tol`, either reading is fair: such cases are not asked.
    assume((abs(ratio - 1) <= tolerance) == (1 - tolerance <= ratio <= 1 + tolerance))
    return load, target, tolerance


@settings(max_examples=300, phases=PHASES)
@given(replicas, loads, targets, bounds(), tolerances)
def test_matches_the_rule_read_literally(current, load, target, limits, tolerance):
    low, high = limits
    expected = rule(current, load, target, low, high, tolerance)
    assert desired_replicas(current, load, target, low, high, tolerance) == expected, \
        f"the rule gives {expected} for {current} replicas, load {load!r}, target {target!r}, tolerance {tolerance!r}"


@settings(max_examples=200, phases=PHASES)
@given(replicas, near_the_band_edge(), bounds())
def test_matches_the_rule_at_the_edge_of_the_band(current, case, limits):
    load, target, tolerance = case
    low, high = limits
    expected = rule(current, load, target, low, high, tolerance)
    assert desired_replicas(current, load, target, low, high, tolerance) == expected, \
        (f"at the band edge (ratio {load / target!r}, tolerance {tolerance!r}) the rule gives {expected}: "
         "compute ratio = current_value / target_value and compare abs(ratio - 1) <= tolerance")


@pytest.mark.parametrize("load, tolerance, expected", [(110.000000001, 0.1, 12), (100.0000000001, 0.0, 11)],
                         ids=["1e-11-above-11", "1e-12-above-10"])
def test_a_count_a_hair_above_a_whole_number_rounds_up(load, tolerance, expected):
    # 10 replicas at 1.10000000001x the target need 11.0000000001 pods: ceil makes that 12;
    # at 1.000000000001x with no tolerance they need 10.00000000001: ceil makes that 11.
    got = desired_replicas(10, load, 100.0, 1, 100, tolerance)
    assert got == expected, (
        f"10 * ({load} / 100) is a hair above {expected - 1}, and ceil rounds any excess up (tolerance "
        f"{tolerance}): expected {expected}, got {got} (no epsilon, no rounding before ceil)")


@settings(max_examples=200, phases=PHASES)
@given(replicas, loads, targets, bounds(), tolerances)
def test_never_leaves_the_min_max_range(current, load, target, limits, tolerance):
    low, high = limits
    result = desired_replicas(current, load, target, low, high, tolerance)
    assert low <= result <= high, f"{result} replicas is outside [minReplicas {low}, maxReplicas {high}]"


@settings(max_examples=200, phases=PHASES)
@given(replicas, loads, loads, targets, bounds(), tolerances)
def test_more_load_never_means_fewer_replicas(current, load_a, load_b, target, limits, tolerance):
    low, high = limits
    lighter, heavier = sorted((load_a, load_b))
    fewer = desired_replicas(current, lighter, target, low, high, tolerance)
    more = desired_replicas(current, heavier, target, low, high, tolerance)
    assert fewer <= more, f"load {heavier!r} gave {more} replicas but the lighter load {lighter!r} gave {fewer}"


@settings(max_examples=200, phases=PHASES)
@given(bounds(), targets, tolerances, st.data())
def test_inside_the_band_and_the_range_nothing_changes(limits, target, tolerance, data):
    low, high = limits
    current = data.draw(st.integers(min_value=low, max_value=high), label="current_replicas")
    share = data.draw(st.floats(min_value=1 - tolerance, max_value=1 + tolerance), label="load / target")
    load = target * share
    # Inside the band by both readings: where float rounding makes them disagree (only at
    # the edge), either is fair, as in test_matches_the_rule_at_the_edge_of_the_band.
    assume(abs(load / target - 1) <= tolerance and 1 - tolerance <= load / target <= 1 + tolerance)
    assert desired_replicas(current, load, target, low, high, tolerance) == current, \
        f"ratio {load / target!r} is within tolerance {tolerance!r}, so {current} replicas should stay {current}"


@settings(max_examples=100, phases=PHASES)
@given(replicas, st.integers(min_value=2, max_value=50), bounds())
def test_an_exact_multiple_of_the_target_scales_by_that_multiple(current, factor, limits):
    low, high = limits
    expected = max(low, min(high, current * factor))
    assert desired_replicas(current, 100.0 * factor, 100.0, low, high) == expected, \
        f"load {factor}x the target should ask for {current} * {factor} replicas, clamped to [{low}, {high}]"

from __future__ import annotations
import math
from collections.abc import Sequence

SECONDS_PER_DAY = 86_400


def _num(x, name):
    if isinstance(x, bool) or not isinstance(x, (int, float)) and not hasattr(x, "__float__"):
        raise ValueError(f"{name} must be a number")
    try:
        f = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number") from None
    except OverflowError:  # an int too large for any float (10**400): a bad input like infinity
        raise ValueError(f"{name} must be finite") from None
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite")
    return f


def peak_qps(requests_per_day, peak_to_mean=3.0):
    r = _num(requests_per_day, "requests_per_day")
    p = _num(peak_to_mean, "peak_to_mean")
    if not r > 0 or not p >= 1:
        raise ValueError("bad input")
    return _in_float_range("peak_qps", r / SECONDS_PER_DAY * p)


def latency_budget_ms(p99_target_ms, other_hops_ms):
    t = _num(p99_target_ms, "target")
    if not t > 0:
        raise ValueError("target must be > 0")
    hops = [_num(h, "hop") for h in other_hops_ms]
    if any(h < 0 for h in hops):
        raise ValueError("negative hop")
    left = t - math.fsum(hops)
    if not left > 0:
        raise ValueError("budget spent")
    return left


def replica_qps(workers, mean_latency_ms):
    w = _num(workers, "workers")
    lat = _num(mean_latency_ms, "latency")
    if not w >= 1 or w != int(w) or not lat > 0:
        raise ValueError("bad input")
    return _in_float_range("replica_qps", w * 1000 / lat)


def replicas_needed(peak_qps, qps_per_replica, headroom=0.3, min_replicas=2):
    p = _num(peak_qps, "peak_qps")
    q = _num(qps_per_replica, "qps_per_replica")
    h = _num(headroom, "headroom")
    m = _num(min_replicas, "min_replicas")
    if not p > 0 or not q > 0 or not 0 <= h < 1 or not m >= 1:
        raise ValueError("bad input")
    return max(math.ceil(m), math.ceil(_in_float_range("replicas_needed", p / (q * (1 - h)))))


def storage_bytes(events_per_day, bytes_per_event, retention_days, replication=3):
    # numpy integers (read from a DataFrame) are whole numbers: multiply them as Python ints, which never wrap
    events_per_day, bytes_per_event, retention_days, replication = (
        int(v) if hasattr(v, "__index__") and not isinstance(v, bool)
        else v.item() if hasattr(v, "item") else v  # numpy floats too: float32 products round
        for v in (events_per_day, bytes_per_event, retention_days, replication)
    )
    # a plain int is checked as it is (exact however large); anything else through _num
    vals = [v if type(v) is int else _num(v, "input")
            for v in (events_per_day, bytes_per_event, retention_days, replication)]
    if any(not v > 0 for v in vals):
        raise ValueError("every input must be > 0")
    # the checked floats only validate: the product is taken on the inputs as given, so whole numbers stay exact
    try:
        return math.ceil(events_per_day * bytes_per_event * retention_days * replication)
    except OverflowError:  # an int too large for a float next to a float
        raise ValueError("an input is too large for a float") from None


def _in_float_range(name, value):
    """A result from finite inputs can still be past a float's range (1e308 QPS on 1e-10 QPS replicas is inf):
    refuse it with ValueError rather than return inf or let math.ceil(inf) raise OverflowError."""
    try:
        finite = math.isfinite(value)
    except OverflowError:  # a Fraction or int too large for a float
        finite = False
    if not finite:
        raise ValueError(f"{name} is past the range of a float for these inputs")
    return value

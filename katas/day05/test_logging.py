"""Task 3: structured logs, one JSON object per line, that a log pipeline can filter."""

import json
import logging
import math
import re
import threading
from collections import namedtuple
from datetime import datetime

import pytest

from deploy_automation import JsonLineFormatter

pytestmark = pytest.mark.task(taskno=3)


def record(message, *args, level=logging.INFO, exc_info=None, **extra):
    logger = logging.getLogger("day05.test")
    return logger.makeRecord(logger.name, level, __file__, 1, message, args, exc_info, extra=extra)


def _not_json(constant):
    raise ValueError(f"bare {constant} is not JSON (RFC 8259); strict parsers reject the line")


def render(rec):
    line = JsonLineFormatter().format(rec)
    assert "\n" not in line, f"a log entry must stay on one line, got {line!r}"
    try:
        return json.loads(line, parse_constant=_not_json)  # strict: Python's json.loads alone accepts NaN
    except ValueError as exc:
        pytest.fail(f"a log line should be one strict JSON object, got {line!r} ({exc})")


def test_a_line_carries_message_level_logger_and_time():
    entry = render(record("deploying %s", "v2", level=logging.WARNING))
    assert entry.get("message") == "deploying v2", "'message' should be the message with its arguments filled in"
    assert entry.get("level") == "WARNING", "'level' should be the level name"
    assert entry.get("logger") == "day05.test", "'logger' should be the logger's name"
    assert isinstance(entry.get("ts"), str) and entry["ts"][:4].isdigit(), "'ts' should be an ISO 8601 timestamp"


def test_ts_is_the_time_the_record_was_made():
    from datetime import datetime

    rec = record("built v1")
    rec.created, rec.msecs = 1_500_000_000.25, 250.0  # 2017-07-14T02:40:00.25Z, long before this test runs
    ts = render(rec).get("ts")
    try:
        when = datetime.fromisoformat(str(ts).replace(",", "."))
    except ValueError:
        pytest.fail(f"'ts' should be an ISO 8601 timestamp, got {ts!r}")
    assert when.tzinfo is not None, f"'ts' should carry its UTC offset (Z or +00:00), got {ts!r}"
    assert abs(when.timestamp() - 1_500_000_000.25) < 1.0, (
        f"'ts' should be the time the record was made (record.created, 2017-07-14T02:40:00Z), got {ts!r}"
    )
    assert abs(when.timestamp() - 1_500_000_000.25) < 0.001, (
        f"'ts' should keep the record's milliseconds (2017-07-14T02:40:00.250Z): steps logged within one second "
        f"must stay in order; got {ts!r}"
    )


def test_ts_of_a_record_made_just_before_a_full_second_stays_in_that_second():
    from datetime import datetime

    rec = record("built v1")
    rec.created, rec.msecs = 1_500_000_000.9996, 999.6  # 02:40:00.9996Z: its milliseconds are 999, not 1000
    ts = render(rec).get("ts")
    try:
        when = datetime.fromisoformat(str(ts).replace(",", "."))
    except ValueError:
        pytest.fail(f"'ts' should be an ISO 8601 timestamp, got {ts!r}")
    assert abs(when.timestamp() - 1_500_000_000.9996) < 0.001, (
        f"'ts' should be 2017-07-14T02:40:00.999Z (milliseconds cut, or kept exact), got {ts!r}: rounding 999.6 ms "
        f"up gives '.1000', which is not the same instant"
    )
    assert int(when.timestamp()) == 1_500_000_000, (
        f"'ts' should stay in second 02:40:00 (02:40:00.999Z, milliseconds cut, or kept exact), got {ts!r}: rounding "
        f"to the nearest millisecond carries into 02:40:01.000, a time after the record was made, in another "
        f"second"
    )


def test_ts_of_a_record_made_within_a_microsecond_of_a_full_second_stays_in_that_second():
    from datetime import datetime

    rec = record("built v1")
    rec.created = 1_500_000_000.9999997  # 02:40:00.9999997Z
    rec.msecs = (rec.created - int(rec.created)) * 1000
    ts = render(rec).get("ts")
    try:
        when = datetime.fromisoformat(str(ts).replace(",", "."))
    except ValueError:
        pytest.fail(f"'ts' should be an ISO 8601 timestamp, got {ts!r}")
    assert int(when.timestamp()) == 1_500_000_000, (
        f"'ts' should stay in second 02:40:00 (02:40:00.999Z, milliseconds cut), got {ts!r}: "
        f"datetime.fromtimestamp rounds to the nearest microsecond, which carries 0.9999997 s into the next second"
    )


@pytest.mark.parametrize("created, cut", [(1_500_000_000.1236, ".123"), (1_500_000_000.4567, ".456")],
                         ids=["0.1236-s", "0.4567-s"])
def test_ts_milliseconds_are_cut_not_rounded_up_within_a_second(created, cut):
    rec = record("built v1")
    rec.created, rec.msecs = created, (created - int(created)) * 1000
    ts = render(rec).get("ts")
    try:
        when = datetime.fromisoformat(str(ts).replace(",", "."))
    except ValueError:
        pytest.fail(f"'ts' should be an ISO 8601 timestamp, got {ts!r}")
    assert created - 0.001 < when.timestamp() <= created + 0.00001, (
        f"'ts' should end in {cut} (the milliseconds cut, or the time kept exact), never rounded up to a time after "
        f"the record was made (record.created ends in {created % 1:.4f} s); got {ts!r}"
    )


ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}([.,]\d+)?(Z|[+-]\d{2}:?\d{2})")


def test_ts_joins_date_and_time_with_a_t_as_iso_8601_does():
    rec = record("built v1")
    rec.created, rec.msecs = 1_500_000_000.25, 250.0
    ts = render(rec).get("ts")
    assert isinstance(ts, str) and ISO_8601.fullmatch(ts), (
        f"'ts' should be ISO 8601, date and time joined by T with the UTC offset (2017-07-14T02:40:00.250+00:00 "
        f"or ...Z), got {ts!r}: str(datetime) joins them with a space, which strict ISO 8601 date parsers in log "
        f"pipelines reject"
    )


@pytest.fixture
def india_time(monkeypatch):
    """The machine's local time zone is UTC+05:30 for the test (a POSIX TZ string: no tz database needed)."""
    import time

    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is needed to change the local time zone")
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_ts_is_right_on_a_machine_whose_local_time_is_not_utc(india_time):
    from datetime import datetime

    rec = record("built v1")
    rec.created, rec.msecs = 1_500_000_000.25, 250.0  # 2017-07-14T02:40:00.25Z == 08:10:00.25+05:30
    ts = render(rec).get("ts")
    try:
        when = datetime.fromisoformat(str(ts).replace(",", "."))
    except ValueError:
        pytest.fail(f"'ts' should be an ISO 8601 timestamp, got {ts!r}")
    assert when.tzinfo is not None, f"'ts' should carry its UTC offset (Z or +00:00), got {ts!r}"
    assert abs(when.timestamp() - 1_500_000_000.25) < 1.0, (
        f"on a machine in UTC+05:30 'ts' should still name the moment the record was made "
        f"(2017-07-14T02:40:00Z, i.e. 08:10:00+05:30), got {ts!r}: local time labelled as UTC is 5.5 hours off"
    )


def test_extra_fields_become_json_fields():
    entry = render(record("health ok", step="health", version="v2", attempts=3, _deploy_id="d-42"))
    assert entry.get("step") == "health", "fields passed with extra= should appear in the JSON"
    assert entry.get("_deploy_id") == "d-42", "every extra= field should appear, also one whose name starts with _"
    assert entry.get("version") == "v2", "fields passed with extra= should appear in the JSON"
    assert entry.get("attempts") == 3, "numbers passed with extra= should stay numbers"


def test_a_line_holds_the_contract_fields_and_the_extras_only():
    entry = render(record("health ok", step="health", version="v2"))
    assert set(entry) == {"ts", "level", "logger", "message", "step", "version"}, (
        f"a line should hold ts, level, logger, message and the extra= fields, not the record's other "
        f"attributes (pathname, lineno, thread, args, ...); got the keys {sorted(entry)}"
    )


def test_attributes_another_formatter_added_to_the_record_are_not_logged():
    rec = record("health ok", step="health", version="v2")
    logging.Formatter("%(asctime)s %(levelname)s %(message)s").format(rec)  # a console handler ran first
    entry = render(rec)
    assert set(entry) == {"ts", "level", "logger", "message", "step", "version"}, (
        f"a console handler's formatter that ran first adds asctime and message to the record; they are not extra= "
        f"fields, so the line should still hold only ts, level, logger, message and the extras; got {sorted(entry)}"
    )


def test_a_percent_sign_in_a_message_without_arguments_is_kept():
    entry = render(record("canary at 100%"))
    assert entry.get("message") == "canary at 100%", (
        f"a message logged without arguments is not a format string: it should be kept as written, "
        f"got {entry.get('message')!r}"
    )


def test_a_multi_line_message_stays_one_line():
    entry = render(record('build failed:\nStep 3/7 : RUN pip install\n"quoted"'))
    assert entry.get("message") == 'build failed:\nStep 3/7 : RUN pip install\n"quoted"', (
        "newlines and quotes in a message should be escaped, not break the line"
    )


def test_a_message_is_not_stripped():
    message = "  Step 3/7 : RUN pip install\n"  # a build tool's line, its indentation and final newline included
    entry = render(record(message))
    assert entry.get("message") == message, (
        f"the message should be kept as written, its leading blanks and trailing newline too (escaped, so the "
        f"line stays one line), not stripped; got {entry.get('message')!r}"
    )


def test_values_json_cannot_encode_are_written_as_text():
    from datetime import datetime, timezone
    from pathlib import Path

    from uuid import UUID

    built = datetime(2017, 7, 14, 2, 40, tzinfo=timezone.utc)
    deploy_id = UUID("12345678-1234-5678-1234-567812345678")
    entry = render(record("context", context=Path("/srv/app"), built_at=built, deploy_id=deploy_id))
    assert entry.get("context") == "/srv/app", "a value JSON cannot encode (a Path) should be written as text"
    built_at = entry.get("built_at")
    assert isinstance(built_at, str) and "2017" in built_at, (
        f"a value JSON cannot encode (a datetime) should be written as text naming its time, got {built_at!r}"
    )
    assert entry.get("deploy_id") == str(deploy_id), (
        f"a value JSON cannot encode (a UUID, not only a Path or a datetime) should be written as text, its str(); "
        f"got {entry.get('deploy_id', 'nothing')!r}"
    )


def test_any_other_value_json_cannot_encode_is_written_as_text():
    import numpy

    class Digest:  # any object of the caller's own: json.dumps cannot write it
        def __str__(self):
            return "sha256:9f2c"

    entry = render(record("built", digest=Digest(), layers=numpy.int64(7), cached=numpy.bool_(True)))
    assert entry.get("digest") == "sha256:9f2c", (
        f"an object JSON cannot encode, of any type (not only a Path, a datetime or a UUID), should be written as text, "
        f"its str(), not make format() raise and the line be lost; got {entry.get('digest', 'nothing')!r}"
    )
    layers, cached = entry.get("layers"), entry.get("cached")
    assert (layers == "7" or (layers == 7 and not isinstance(layers, bool))) and (cached == "True" or cached is True), (
        f"NumPy numbers (numpy.int64, numpy.bool_ are not int or bool) should be logged, as text or as their JSON "
        f"type; got layers={entry.get('layers', 'nothing')!r}, cached={entry.get('cached', 'nothing')!r}"
    )


def _pending_steps():
    yield "promote"


@pytest.mark.parametrize("make_value", [threading.Lock, _pending_steps], ids=["lock", "generator"])
def test_a_value_that_cannot_be_copied_is_still_logged_as_text(make_value):
    value = make_value()  # copy.deepcopy and pickle refuse both: "cannot pickle '_thread.lock' object"
    try:
        entry = render(record("deploying", guard=value))
    except NotImplementedError:
        raise
    except Exception as error:
        pytest.fail(f"a value that cannot be copied ({value!r}) should be written as text, its str(), not make "
                    f"format() raise and the line be lost; format() raised {error!r} (do not copy the entry to keep "
                    f"the caller's data unchanged: build new containers instead)")
    assert isinstance(entry.get("guard"), str), (
        f"a value JSON cannot encode ({value!r}) should be written as text, its str(); "
        f"got {entry.get('guard', 'nothing')!r}"
    )


def test_nan_and_infinity_are_written_as_text_so_the_line_stays_json():
    nan, inf = float("nan"), float("inf")
    entry = render(record("eval done", loss=nan, latency_s=inf, floor=-inf, metrics={"auc": nan, "runs": [inf, 1.5]}))
    for key in ("loss", "latency_s", "floor"):
        assert isinstance(entry.get(key), str), (
            f"{key}={entry.get(key)!r}: NaN and infinity cannot be encoded in JSON and should be written as text"
        )
    metrics = entry.get("metrics")
    assert isinstance(metrics, dict) and isinstance(metrics.get("auc"), str) and metrics.get("runs", [None])[-1] == 1.5, (
        f"metrics={metrics!r}: a dict holding NaN should stay a JSON object, with only the NaN in it written as text "
        "and its other values (the list [inf, 1.5]) keeping their JSON types"
    )


def test_nan_inside_a_dict_inside_a_list_is_written_as_text():
    nan = float("nan")
    entry = render(record("cv done", folds=[{"auc": nan, "rows": 3}, {"auc": 0.75, "rows": 4}]))
    folds = entry.get("folds", "nothing")
    assert isinstance(folds, list) and len(folds) == 2 and all(isinstance(f, dict) for f in folds), (
        f"a list of dicts should stay a JSON array of objects, got {folds!r}"
    )
    assert isinstance(folds[0].get("auc"), str) and folds[0].get("rows") == 3, (
        f"a NaN in a dict inside a list should be written as text, its neighbours keeping their types: {folds!r}"
    )
    assert folds[1] == {"auc": 0.75, "rows": 4}, f"finite values deep inside a list should stay numbers: {folds!r}"


def test_nan_inside_a_tuple_is_still_logged_as_strict_json():
    nan = float("nan")
    entry = render(record("window", window=(nan, 1.5)))  # render fails the test if format() raises or writes bare NaN
    window = entry.get("window", "nothing")
    assert isinstance(window, list) and len(window) == 2 and isinstance(window[0], str) and window[1] == 1.5, (
        f"a tuple holding NaN should be logged as a JSON array with only the NaN written as text, got {window!r}"
    )


def test_nan_inside_a_named_tuple_is_written_as_text():
    Window = namedtuple("Window", "low high")  # a tuple subclass, as json.dumps writes it: a JSON array
    entry = render(record("window", window=Window(float("nan"), 1.5)))  # render fails the test if format() raises
    window = entry.get("window", "nothing")
    assert isinstance(window, list) and len(window) == 2 and isinstance(window[0], str) and window[1] == 1.5, (
        f"a named tuple is a tuple: holding NaN it should be logged as a JSON array with only the NaN written as "
        f"text, got {window!r}"
    )


def test_nan_inside_a_dict_subclass_is_written_as_text():
    from collections import OrderedDict, defaultdict

    nan = float("nan")
    entry = render(record("eval done", metrics=defaultdict(float, auc=nan, rows=3), ranked=OrderedDict(top=nan)))
    metrics, ranked = entry.get("metrics"), entry.get("ranked")
    assert isinstance(metrics, dict) and isinstance(metrics.get("auc"), str) and metrics.get("rows") == 3, (
        f"metrics={metrics!r}: a defaultdict is a dict: it should stay a JSON object with only its NaN written as text"
    )
    assert isinstance(ranked, dict) and isinstance(ranked.get("top"), str), (
        f"ranked={ranked!r}: an OrderedDict is a dict: it should stay a JSON object with its NaN written as text"
    )


def test_nan_of_a_float_subclass_is_written_as_text():
    class Float64(float):  # what numpy.float64 is: a subclass of float
        pass

    entry = render(record("eval done", loss=Float64("nan"), metrics={"p99_s": Float64("inf")}))
    assert isinstance(entry.get("loss"), str), (
        f"loss={entry.get('loss')!r}: a NaN of a float subclass (such as numpy.float64) is still NaN, "
        f"and should be written as text"
    )
    assert isinstance(entry.get("metrics"), dict) and isinstance(entry["metrics"].get("p99_s"), str), (
        f"metrics={entry.get('metrics')!r}: a dict holding an infinite float subclass should stay a JSON object "
        "with that value written as text"
    )


def test_nan_and_infinity_of_a_numpy_float32_are_written_as_text():
    import numpy

    entry = render(record("eval", loss=numpy.float32("nan"), gain=numpy.float32("inf"), auc=numpy.float32(0.5)))
    assert isinstance(entry.get("loss"), str) and isinstance(entry.get("gain"), str), (
        f"loss={entry.get('loss')!r}, gain={entry.get('gain')!r}: a numpy.float32 NaN or infinity (not a float "
        f"subclass) is NaN or infinity all the same, and should be written as text"
    )
    assert entry.get("auc") in (0.5, "0.5"), f"a finite numpy.float32 0.5 should be logged as 0.5, got {entry.get('auc')!r}"


def test_a_dict_with_keys_json_cannot_encode_is_still_logged():
    from datetime import date

    import numpy

    confusion = {("cat", "dog"): 3, ("dog", "dog"): 11}
    daily = {date(2024, 1, 1): 7, date(2024, 1, 2): 9}
    labels, counts = numpy.unique(numpy.array([0, 1, 1, 0, 1]), return_counts=True)
    per_class = dict(zip(labels, counts.tolist()))  # keys are numpy.int64, not int: json.dumps refuses them as keys
    # render fails the test if format() raises
    entry = render(record("confusion", confusion=confusion, daily=daily, per_class=per_class))
    assert "confusion" in entry and "11" in json.dumps(entry["confusion"]), (
        f"a dict whose keys JSON cannot encode (tuples) should still be logged, its keys as text; "
        f"got {entry.get('confusion', 'nothing')!r}"
    )
    assert isinstance(entry.get("daily"), dict) and sorted(entry["daily"].values()) == [7, 9], (
        f"a dict whose keys JSON cannot encode (dates) should still be logged as an object, its keys as text; "
        f"got {entry.get('daily', 'nothing')!r}"
    )
    assert isinstance(entry.get("per_class"), dict) and sorted(entry["per_class"].values()) == [2, 3], (
        f"a dict keyed by NumPy integers (as numpy.unique gives them; not int, so json.dumps cannot write them as "
        f"keys) should still be logged as an object, its keys as text; got {entry.get('per_class', 'nothing')!r}"
    )


def test_a_dict_keyed_by_infinity_is_still_logged():
    inf = float("inf")
    buckets = {0.1: 3, 0.5: 7, inf: 10}  # a latency histogram: the last bucket's bound is +Inf
    entry = render(record("latency", buckets=buckets))  # render fails the test if format() raises
    logged = entry.get("buckets", "nothing")
    assert isinstance(logged, dict) and sorted(logged.values()) == [3, 7, 10], (
        f"a dict keyed by floats, one of them infinite, should be logged as an object with its keys as text; "
        f"got {logged!r}"
    )


def test_a_dict_keyed_by_nan_or_negative_infinity_is_still_logged():
    nan, inf = float("nan"), float("inf")
    counts = {nan: 2, -inf: 1, 0.5: 7}  # e.g. counts per value of a feature with missing and clipped values
    entry = render(record("feature counts", counts=counts))  # render fails the test if format() raises
    logged = entry.get("counts", "nothing")
    assert isinstance(logged, dict) and sorted(logged.values()) == [1, 2, 7], (
        f"a dict keyed by NaN and -infinity (keys JSON cannot encode) should be logged as an object with those keys "
        f"as text, not make format() raise and the line be lost; got {logged!r}"
    )


def test_a_dict_whose_keys_mix_numbers_and_text_is_logged():
    per_class = {0: 0.91, 1: 0.85, "macro": 0.88}
    entry = render(record("eval done", f1=per_class))  # render fails the test if format() raises
    f1 = entry.get("f1", "nothing")
    assert isinstance(f1, dict) and sorted(f1.values()) == [0.85, 0.88, 0.91], (
        f"a dict with int and str keys is JSON (its keys become strings) and should be logged as an object; "
        f"got {f1!r}"
    )


def test_formatting_leaves_the_logged_values_unchanged():
    import math

    nan = float("nan")
    metrics = {"auc": nan, "folds": [nan, 0.5], ("cat", "dog"): 3}
    rec = record("eval done", metrics=metrics)
    first = render(rec)
    assert isinstance(metrics["auc"], float) and math.isnan(metrics["auc"]), (
        f"formatting should not change the caller's data: metrics['auc'] was NaN, became {metrics['auc']!r}"
    )
    assert set(metrics) == {"auc", "folds", ("cat", "dog")}, (
        f"formatting should not change the caller's dict keys, they became {sorted(map(repr, metrics))}"
    )
    assert isinstance(metrics["folds"][0], float) and math.isnan(metrics["folds"][0]), (
        f"formatting should not change the caller's data: metrics['folds'] became {metrics['folds']!r}"
    )
    assert render(rec) == first, "formatting the same record twice (two handlers) should give the same entry"


def test_formatting_leaves_the_record_s_attributes_unchanged_for_the_next_handler():
    nan = float("nan")
    metrics = {"auc": nan, "runs": (nan, 0.5)}
    rec = record("eval done", loss=nan, metrics=metrics)
    render(rec)
    assert isinstance(rec.loss, float) and math.isnan(rec.loss), (
        f"formatting should leave the record as it was: its loss was the float NaN, it became {rec.loss!r}, which "
        f"the next handler (a console one with '%(loss).3f', say) can no longer format as a number"
    )
    assert rec.metrics is metrics and isinstance(metrics["runs"], tuple), (
        f"formatting should leave the record's extra fields as they were (the caller's dict, unchanged), got "
        f"{rec.metrics!r}"
    )
    assert logging.Formatter("loss=%(loss).3f").format(rec) == "loss=nan", (
        "another handler's formatter should still read the record's own values after the JSON line was made"
    )


def test_values_json_can_encode_keep_their_json_type():
    build_args = {"BASE_IMAGE": "python:3.11", "WORKERS": 2}
    entry = render(record("promoted", previous_version=None, promoted=False, ratio=0.25, build_args=build_args,
                          tags=["v2", "latest"]))
    assert "previous_version" in entry and entry["previous_version"] is None, (
        f"None should be written as JSON null, got {entry.get('previous_version', 'nothing')!r}"
    )
    assert entry.get("promoted") is False, f"a bool should stay a JSON boolean, got {entry.get('promoted')!r}"
    assert entry.get("ratio") == 0.25, f"a finite float should stay a number, got {entry.get('ratio')!r}"
    assert entry.get("build_args") == build_args, (
        f"a dict should stay a JSON object with its values, got {entry.get('build_args')!r}"
    )
    assert entry.get("tags") == ["v2", "latest"], f"a list should stay a JSON array, got {entry.get('tags')!r}"


def test_an_exception_is_included():
    import sys

    try:
        raise RuntimeError("docker daemon went away")
    except RuntimeError:
        rec = record("step crashed", level=logging.ERROR, exc_info=sys.exc_info())
    entry = render(rec)  # formatted later, as a handler on another thread does: no exception is being handled now
    assert "docker daemon went away" in json.dumps(entry), (
        "the exception the record carries (exc_info) should be part of the log entry, also when it is formatted "
        "after the except block"
    )


def _fail_the_step():
    raise RuntimeError("docker daemon went away")


def test_an_exception_is_included_with_its_traceback():
    import sys

    try:
        _fail_the_step()
    except RuntimeError:
        rec = record("step crashed", level=logging.ERROR, exc_info=sys.exc_info())
    text = json.dumps(render(rec))
    assert "Traceback" in text and "_fail_the_step" in text, (
        f"the exception should be logged with its traceback (as Formatter.formatException renders it: where it was "
        f"raised, through _fail_the_step), not only its type and message; got {text}"
    )


def test_formatting_an_exception_leaves_the_record_s_exc_text_for_the_next_handler():
    import sys

    class OneLine(logging.Formatter):
        def formatException(self, exc_info):
            return f"{exc_info[0].__name__}: {exc_info[1]}"

    try:
        _fail_the_step()
    except RuntimeError:
        rec = record("step crashed", level=logging.ERROR, exc_info=sys.exc_info())
    render(rec)
    assert rec.exc_text is None, (
        f"formatting should leave the record as it was: its exc_text was None and became {str(rec.exc_text)[:80]!r}, "
        f"so the next handler prints this traceback instead of rendering the exception its own way"
    )
    assert OneLine("%(message)s").format(rec) == "step crashed\nRuntimeError: docker daemon went away", (
        "another handler's formatter should render the record's exception its own way after the JSON line was made"
    )


def test_exc_info_wins_over_an_exc_text_another_handler_cached():
    import sys

    try:
        _fail_the_step()
    except RuntimeError:
        rec = record("step crashed", level=logging.ERROR, exc_info=sys.exc_info())
    rec.exc_text = "RuntimeError: docker daemon went away"  # a one-line formatter on another handler ran first
    text = json.dumps(render(rec))
    assert "Traceback" in text and "_fail_the_step" in text, (
        f"a record that carries exc_info should be logged with its traceback as formatException renders it, even "
        f"when another handler left its own rendering in exc_text (exc_text stands in only when exc_info is gone); "
        f"got {text}"
    )


def test_an_exception_received_as_text_is_included():
    # what a log receiver rebuilds from a SocketHandler: the traceback arrives rendered, exc_info is gone
    received = logging.makeLogRecord({
        "name": "day05.test", "msg": "step crashed", "args": None, "levelname": "ERROR", "levelno": logging.ERROR,
        "exc_info": None,
        "exc_text": "Traceback (most recent call last):\n  ...\nRuntimeError: docker daemon went away",
    })
    entry = render(received)
    assert "docker daemon went away" in json.dumps(entry), (
        "a record that carries its exception already rendered as text (exc_text, no exc_info) should still have "
        "that text in its log entry"
    )

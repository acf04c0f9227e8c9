"""Task 3: backpressure (429 with Retry-After, from a full queue or the token bucket) and the
new metrics, checked in process. The token bucket reads a FakeClock the tests move; a held
model keeps requests waiting in the queue, and `model_queue_depth` says how many."""

import json
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import numpy as np
import pytest

from mlops_katas.fakes import FakeClock
from mlops_katas.interleave import switching_threads

pytestmark = pytest.mark.task(taskno=3)

ROWS = np.random.default_rng(3).normal(scale=2.0, size=(32, 4)).round(3).tolist()
WAIT_S = 10


def post(app, body):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return app.test_client().post("/predict", data=data, content_type="application/json")


def metrics(app) -> dict[str, float]:
    """Every sample of /metrics, keyed like `name{label="value",...}` (labels sorted)."""
    from prometheus_client.parser import text_string_to_metric_families

    answer = app.test_client().get("/metrics")
    assert answer.status_code == 200, f"GET /metrics should answer 200, got {answer.status_code}"
    samples = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()) if k != "le")
            if "le" in sample.labels:
                continue
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def wait_for_queue_depth(app, depth: int) -> float:
    deadline = time.monotonic() + WAIT_S
    while (value := metrics(app).get("model_queue_depth")) != depth and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


def assert_429(answer, retry_after: str, why: str):
    assert answer.status_code == 429, f"{why}: expected 429, got {answer.status_code}"
    assert answer.headers.get("Retry-After") == retry_after, (
        f"{why}: the 429 should carry Retry-After: {retry_after}, got {answer.headers.get('Retry-After')!r}")
    assert (answer.get_json(silent=True) or {}).get("error"), f"{why}: the 429 carries {{\"error\": \"...\"}}"


def retry_after_of_the_second_request(app, why: str) -> str:
    """Two requests at the same instant on a tiny rate: the full bucket serves one, the other waits for a token."""
    first = post(app, {"features": [ROWS[0]]})
    assert first.status_code == 200, (
        f"{why}: the bucket starts full, so the first request is served; got {first.status_code}")
    answer = post(app, {"features": [ROWS[1]]})
    got = answer.headers.get("Retry-After", "")
    assert answer.status_code == 429 and got.isdigit() and int(got) >= 1, (
        f"{why}: the second request at the same instant finds no token and gets 429 with a Retry-After of whole "
        f"seconds, at least 1, never a 500; got {answer.status_code} with Retry-After {got!r}")
    return got


def expected(reference_model, rows):
    return reference_model.predict(np.asarray(rows, dtype=float)).tolist()


# --- a full queue ------------------------------------------------------------------------------------


@pytest.fixture
def held(make_app, counting_model):
    """An app with MAX_BATCH_SIZE=1, MAX_QUEUE=2 whose model holds its first call (request ROWS[0])."""
    model = counting_model(gated=True)
    app = make_app({"MAX_BATCH_SIZE": 1, "MAX_WAIT_MS": 0, "MAX_QUEUE": 2}, model=model)
    pool = ThreadPoolExecutor(max_workers=4)
    first = pool.submit(post, app, {"features": [ROWS[0]]})
    assert model.entered.wait(WAIT_S), "the first request should reach the model"
    yield app, model, pool, first
    model.open()
    pool.shutdown(wait=True)


def test_a_full_queue_answers_429_with_retry_after_and_the_waiting_requests_are_served(held, reference_model):
    app, model, pool, first = held
    waiting = [pool.submit(post, app, {"features": [row]}) for row in ROWS[1:3]]
    depth = wait_for_queue_depth(app, 2)
    assert depth == 2, f"two requests wait behind the held model call: model_queue_depth should be 2, got {depth}"
    # The gauge may count a request a moment before its submit() reaches the batcher, so the request
    # sent now may overtake one of the two: exactly one of the three is refused, whichever it is.
    probe = pool.submit(post, app, {"features": [ROWS[3]]})
    done, _ = wait([*waiting, probe], timeout=WAIT_S, return_when=FIRST_COMPLETED)
    assert done, f"a third request while MAX_QUEUE=2 requests wait should be refused at once; none was in {WAIT_S} s"
    model.open()
    late = [f.result(timeout=WAIT_S) for f in (*waiting, probe)]
    codes = [a.status_code for a in late]
    assert sorted(codes) == [200, 200, 429], (
        f"with MAX_QUEUE=2, of three requests behind the held call two are queued and one is refused; got {codes}")
    refused_row = ROWS[1 + codes.index(429)]
    assert_429(late[codes.index(429)], "1", "a request finding MAX_QUEUE=2 requests waiting")
    answers = [first.result(timeout=WAIT_S)] + [a for a in late if a.status_code == 200]
    rows = [ROWS[0]] + [row for row, code in zip(ROWS[1:4], codes) if code == 200]
    assert answers[0].status_code == 200, "the held request should be served"
    assert [a.get_json()["predictions"] for a in answers] == [expected(reference_model, [r]) for r in rows], (
        "each queued request should get its own row's prediction")
    assert [refused_row] not in model.calls, "a refused request must never reach the model"
    again = post(app, {"features": [refused_row]})
    assert again.status_code == 200, f"once the queue has drained, requests are served again, got {again.status_code}"
    assert metrics(app).get("model_queue_depth") == 0, "with every request answered (or refused), nothing waits"
    counted = metrics(app).get('model_requests_total{endpoint="/predict",status="429"}')
    assert counted == 1, f"model_requests_total should count the 429 under status=\"429\", got {counted}"


def test_one_request_fewer_than_max_queue_still_gets_in(held):
    app, model, pool, _ = held
    waiting = pool.submit(post, app, {"features": [ROWS[1]]})
    assert wait_for_queue_depth(app, 1) == 1, "one request waits behind the held model call"
    second = pool.submit(post, app, {"features": [ROWS[2]]})
    assert wait_for_queue_depth(app, 2) == 2, "with MAX_QUEUE=2, a second waiting request is still accepted"
    model.open()
    assert waiting.result(timeout=WAIT_S).status_code == 200 and second.result(timeout=WAIT_S).status_code == 200, "both queued requests should be served once the model is released"


def test_queue_depth_counts_requests_not_rows(held):
    app, model, pool, _ = held
    waiting = pool.submit(post, app, {"features": ROWS[1:4]})
    depth = wait_for_queue_depth(app, 1)
    model.open()
    assert depth == 1, (
        "model_queue_depth is the number of requests submitted and not yet handed to the model: one request of 3 "
        f"rows waiting behind the held model call counts once; expected 1, got {depth}")
    assert waiting.result(timeout=WAIT_S).status_code == 200, "the waiting request should be served"
    assert wait_for_queue_depth(app, 0) == 0, "with every request answered, nothing waits"


def test_max_queue_defaults_to_256(make_app, counting_model):
    model = counting_model(gated=True)
    app = make_app({"MAX_BATCH_SIZE": 1, "MAX_WAIT_MS": 0}, model=model)
    with ThreadPoolExecutor(max_workers=2) as pool:
        held = pool.submit(post, app, {"features": [ROWS[0]]})
        try:
            assert model.entered.wait(WAIT_S), "the first request should reach the model"
            # Each /predict request is one item of app.extensions["batcher"]: fill its queue directly.
            batcher = app.extensions["batcher"]
            refused_early = None
            for i in range(256):
                try:
                    batcher.submit(((float(i), 0.0, 0.0, 0.0),))
                except Exception as exc:  # noqa: BLE001 - reported below
                    refused_early = (i, exc)
                    break
            assert refused_early is None, (
                f"by default MAX_QUEUE is 256: item {refused_early and refused_early[0] + 1} of 256 waiting behind "
                f"the held model call was refused with {refused_early and refused_early[1]!r}")
            probe = pool.submit(post, app, {"features": [ROWS[1]]})
            done, _ = wait([probe], timeout=WAIT_S)
            assert done, (f"a request finding 256 requests waiting (the default MAX_QUEUE) should be refused at once; "
                          f"it still waited after {WAIT_S} s (is the queue unbounded by default?)")
            assert_429(probe.result(), "1", "a request finding 256 requests waiting (the default MAX_QUEUE)")
        finally:
            model.open()
        assert held.result(timeout=WAIT_S).status_code == 200, "the held request should be served"


@pytest.mark.parametrize("where", ["environment", "config over the environment"])
def test_max_queue_from_the_environment_or_config(make_app, counting_model, monkeypatch, where):
    model = counting_model(gated=True)
    monkeypatch.setenv("MAX_QUEUE", "1" if where == "environment" else "300")
    config = {"MAX_BATCH_SIZE": 1, "MAX_WAIT_MS": 0}
    if where != "environment":
        config["MAX_QUEUE"] = 1
    app = make_app(config, model=model)
    with ThreadPoolExecutor(max_workers=2) as pool:
        held = pool.submit(post, app, {"features": [ROWS[0]]})
        try:
            assert model.entered.wait(WAIT_S), "the first request should reach the model"
            # Each /predict request is one item of app.extensions["batcher"]: one waiting item fills MAX_QUEUE=1.
            app.extensions["batcher"].submit(((1.0, 2.0, 3.0, 4.0),))
            probe = pool.submit(post, app, {"features": [ROWS[1]]})
            done, _ = wait([probe], timeout=WAIT_S / 2)
            assert done, (f"a request finding one request waiting, with MAX_QUEUE=1 from the {where}, should be "
                          f"refused at once; it still waited after {WAIT_S / 2:g} s")
            assert_429(probe.result(), "1", f"a request finding one request waiting, with MAX_QUEUE=1 from the {where}")
        finally:
            model.open()
        assert held.result(timeout=WAIT_S).status_code == 200, "the held request should be served"


def test_a_cached_answer_is_served_even_while_the_queue_is_full(make_app, counting_model, reference_model):
    model = counting_model()
    app = make_app({"MAX_BATCH_SIZE": 1, "MAX_WAIT_MS": 0, "MAX_QUEUE": 1}, model=model)
    assert post(app, {"features": [ROWS[9]]}).status_code == 200, "the first request fills the cache"
    model.gate.clear()
    model.entered.clear()
    with ThreadPoolExecutor(max_workers=3) as pool:
        busy = pool.submit(post, app, {"features": [ROWS[0]]})
        assert model.entered.wait(WAIT_S), "the request should reach the model"
        queued = pool.submit(post, app, {"features": [ROWS[1]]})
        assert wait_for_queue_depth(app, 1) == 1, "one request waits: the queue (MAX_QUEUE=1) is full"
        uncached = pool.submit(post, app, {"features": [ROWS[2]]})  # it, or the one before it, is refused
        done, _ = wait([queued, uncached], timeout=WAIT_S, return_when=FIRST_COMPLETED)
        assert [f.result().status_code for f in done] == [429], (
            "of two uncached requests behind the held call with MAX_QUEUE=1, one should be refused at once with 429; "
            f"got {[f.result().status_code for f in done] or 'none within the time limit'}")
        cached = post(app, {"features": [ROWS[9]]})
        model.open()
        codes = sorted(f.result(timeout=WAIT_S).status_code for f in (busy, queued, uncached))
        assert codes == [200, 200, 429], f"the requests that got in should be served; got {codes}"
    assert cached.status_code == 200 and cached.get_json()["predictions"] == expected(reference_model, [ROWS[9]]), (
        f"a cached answer needs no queue and should be served while it is full, got {cached.status_code}")


# --- the token bucket -----------------------------------------------------------------------------------


def test_the_rate_limit_refuses_beyond_the_burst_and_refills_over_time(make_app, counting_model):
    clock = FakeClock()
    app = make_app({"RATE_LIMIT": "2", "RATE_BURST": "3", "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    for i in range(3):
        assert post(app, {"features": [ROWS[i]]}).status_code == 200, f"request {i + 1} of a burst of 3 is served"
    assert_429(post(app, {"features": [ROWS[3]]}), "1", "the 4th request at the same instant (RATE_BURST=3)")
    counted = metrics(app).get('model_requests_total{endpoint="/predict",status="429"}')
    assert counted == 1, f"model_requests_total should count the rate limit's 429 under status=\"429\", got {counted}"
    clock.advance(0.5)
    assert post(app, {"features": [ROWS[4]]}).status_code == 200, "after 0.5 s at 2 tokens/s there is 1 token"
    assert post(app, {"features": [ROWS[5]]}).status_code == 429, "and it has been used"
    clock.advance(10)
    answers = [post(app, {"features": [ROWS[6 + i]]}).status_code for i in range(4)]
    assert answers == [200, 200, 200, 429], f"the bucket refills to RATE_BURST=3 and no further; got {answers}"


def test_the_bucket_refills_continuously_keeping_fractions_of_a_token(make_app, counting_model):
    clock = FakeClock()
    app = make_app({"RATE_LIMIT": "1", "RATE_BURST": "1", "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    assert post(app, {"features": [ROWS[0]]}).status_code == 200, "the bucket starts full: one token"
    clock.advance(0.5)
    assert post(app, {"features": [ROWS[1]]}).status_code == 429, "after 0.5 s at 1 token/s half a token is no token"
    clock.advance(0.5)
    assert post(app, {"features": [ROWS[2]]}).status_code == 200, (
        "0.5 s and 0.5 s more at 1 token/s make a whole token: the bucket refills continuously, so the half token "
        "of the refused request's refill is kept, not thrown away with the whole tokens counted")


def test_retry_after_is_the_whole_seconds_until_the_next_token(make_app, counting_model):
    clock = FakeClock()
    app = make_app({"RATE_LIMIT": 0.25, "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    assert post(app, {"features": [ROWS[0]]}).status_code == 200, "RATE_BURST defaults to at least 1 token"
    assert_429(post(app, {"features": [ROWS[1]]}), "4", "an empty bucket at 0.25 tokens/s (4 s to the next token)")
    clock.advance(1.5)
    assert_429(post(app, {"features": [ROWS[1]]}), "3", "2.5 s before the next token (rounded up, not to the nearest)")
    clock.advance(1)
    assert_429(post(app, {"features": [ROWS[1]]}), "2", "1.5 s before the next token (rounded up)")
    clock.advance(1.25)
    assert_429(post(app, {"features": [ROWS[1]]}), "1", "0.25 s before the next token (at least 1)")
    clock.advance(0.25)
    assert post(app, {"features": [ROWS[1]]}).status_code == 200, "after 4 s the token is there"


@pytest.mark.parametrize("rate", ["1e-320", 5e-324, "1e-330"], ids=repr)
def test_a_rate_too_small_for_a_float_wait_is_refused_or_still_answers_a_whole_retry_after(make_app, counting_model,
                                                                                           rate):
    # 1 / 1e-320 is infinite in floats, and math.ceil(inf) raises OverflowError: that must not become a 500
    try:
        app = make_app({"RATE_LIMIT": rate, "MAX_WAIT_MS": 0}, model=counting_model(), clock=FakeClock())
    except ValueError as error:
        assert "RATE_LIMIT" in str(error), f"the ValueError should name RATE_LIMIT, got {error}"
        return  # refused when the app is made, as the README allows
    retry_after_of_the_second_request(app, f"RATE_LIMIT={rate!r} puts the next token further away than a float can "
                                           "hold; a rate not refused with a ValueError naming RATE_LIMIT when the "
                                           "app is made still works")


@pytest.mark.parametrize("rate, retry_after", [("1e-5", "100000"), ("1e-300", None)], ids=["1e-5", "1e-300"])
def test_a_tiny_rate_whose_wait_is_a_finite_float_is_valid_and_answers_a_whole_retry_after(make_app, counting_model,
                                                                                           rate, retry_after):
    try:
        app = make_app({"RATE_LIMIT": rate, "MAX_WAIT_MS": 0}, model=counting_model(), clock=FakeClock())
    except NotImplementedError:
        raise
    except ValueError as error:
        pytest.fail(f"RATE_LIMIT={rate!r} waits a finite float of seconds for a token, so it is a valid rate, not a "
                    f"ValueError ({error})")
    got = retry_after_of_the_second_request(app, f"RATE_LIMIT={rate!r}")
    if retry_after is not None:
        assert got == retry_after, (
            f"RATE_LIMIT={rate!r}: the next token is 1 / {rate} = {retry_after} s away, so Retry-After should be "
            f"{retry_after}, got {got!r}")


def test_rate_burst_defaults_to_the_rate_limit(make_app, counting_model):
    clock = FakeClock()
    app = make_app({"RATE_LIMIT": "5", "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    answers = [post(app, {"features": [ROWS[i]]}).status_code for i in range(6)]
    assert answers == [200] * 5 + [429], f"RATE_LIMIT=5 without RATE_BURST allows a burst of 5; got {answers}"


def test_a_fractional_rate_limit_is_also_the_default_burst_fraction_and_all(make_app, counting_model):
    clock = FakeClock()
    app = make_app({"RATE_LIMIT": "2.5", "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    answers = [post(app, {"features": [ROWS[i]]}).status_code for i in range(3)]
    assert answers == [200, 200, 429], f"RATE_LIMIT=2.5 without RATE_BURST holds 2.5 tokens: two requests; got {answers}"
    clock.advance(0.3)
    answer = post(app, {"features": [ROWS[3]]}).status_code
    assert answer == 200, (
        "RATE_BURST defaults to max(1, RATE_LIMIT) = 2.5, not a whole 2: the half token left plus 0.3 s at 2.5 "
        f"tokens/s make 1.25 tokens, so the next request is served; got {answer}")


def test_without_rate_limit_nothing_is_refused(make_app, counting_model):
    app = make_app({"MAX_WAIT_MS": 0, "CACHE_SIZE": 0}, model=counting_model(), clock=FakeClock())
    answers = {post(app, {"features": [ROWS[i % 32]]}).status_code for i in range(60)}
    assert answers == {200}, f"with RATE_LIMIT unset no request is rate limited; got {answers}"


def test_rate_limit_from_the_environment(make_app, counting_model, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT", "1")
    app = make_app({"MAX_WAIT_MS": 0}, model=counting_model(), clock=FakeClock())
    assert [post(app, {"features": [ROWS[i]]}).status_code for i in range(2)] == [200, 429], (
        "RATE_LIMIT=1 from the environment: one request, then 429")


def test_rate_burst_from_the_environment(make_app, counting_model, monkeypatch):
    monkeypatch.setenv("RATE_BURST", "2")
    app = make_app({"RATE_LIMIT": "1", "MAX_WAIT_MS": 0}, model=counting_model(), clock=FakeClock())
    answers = [post(app, {"features": [ROWS[i]]}).status_code for i in range(3)]
    assert answers == [200, 200, 429], f"RATE_BURST=2 from the environment: two requests, then 429; got {answers}"


def test_the_bucket_is_checked_first_and_every_predict_takes_a_token(make_app, counting_model):
    clock = FakeClock()
    model = counting_model()
    app = make_app({"RATE_LIMIT": "1", "MAX_WAIT_MS": 0}, model=model, clock=clock)
    assert post(app, b"{not json").status_code == 400, "a bad body with a token left is a 400"
    assert post(app, {"features": [ROWS[0]]}).status_code == 429, "the bad request took the only token"
    assert post(app, b"{not json").status_code == 429, "with no token, even a bad body is answered 429"
    clock.advance(1)
    assert post(app, {"features": [ROWS[0]]}).status_code == 200, "after 1 s at 1 token/s a request is served"
    assert post(app, {"features": [ROWS[0]]}).status_code == 429, "a cached answer takes a token too"
    assert len(model.calls) == 1, "refused requests never reach the model"


def test_a_body_over_one_mib_takes_a_token_before_it_is_read(make_app, counting_model):
    clock = FakeClock()
    app = make_app({"RATE_LIMIT": "1", "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    huge = b"[" * (1024 * 1024 + 1)
    assert post(app, huge).status_code == 413, "a body over 1 MiB with a token left is a 413"
    assert post(app, {"features": [ROWS[0]]}).status_code == 429, (
        "the body over 1 MiB took the only token: the bucket is checked before the body is read")
    assert_429(post(app, huge), "1", "a body over 1 MiB with no token left (the bucket comes before the body)")


def test_without_a_model_a_predict_still_takes_a_token(make_app, tmp_path):
    app = make_app({"MODEL_PATH": str(tmp_path / "missing.skops"), "RATE_LIMIT": "1"}, clock=FakeClock())
    assert post(app, {"features": [ROWS[0]]}).status_code == 503, "without a model /predict answers 503"
    assert_429(post(app, {"features": [ROWS[0]]}), "1",
               "the first request took the only token (every POST /predict takes one before anything else, also "
               "without a model)")


@pytest.mark.parametrize("setting", ["RATE_LIMIT", "RATE_BURST"])
def test_rate_settings_in_config_win_over_the_environment(make_app, counting_model, monkeypatch, setting):
    clock = FakeClock()
    if setting == "RATE_LIMIT":
        monkeypatch.setenv("RATE_LIMIT", "50")
        config = {"RATE_LIMIT": "1"}
    else:
        monkeypatch.setenv("RATE_BURST", "50")
        config = {"RATE_LIMIT": "1", "RATE_BURST": "1"}
    app = make_app({**config, "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    answers = [post(app, {"features": [ROWS[i]]}).status_code for i in range(3)]
    assert answers == [200, 429, 429], (
        f"{setting}=1 in config wins over {setting}=50 in the environment (as for every setting): a bucket of one "
        f"token serves one request, then 429; got {answers}")


def test_requests_to_other_paths_never_take_a_token(make_app, counting_model):
    clock = FakeClock()
    app = make_app({"RATE_LIMIT": "1", "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    client = app.test_client()
    for path in ("/wp-login.php", "/admin/.env", "/predict/"):
        answer = client.get(path)
        assert answer.status_code == 404, (
            f"GET {path}, a path no route knows, should answer 404 (the bucket guards POST /predict only), got "
            f"{answer.status_code}")
    for path in ("/predict/", "/predictions", "/predict/v2"):
        answer = client.post(path, json={"features": [ROWS[0]]})
        assert answer.status_code == 404, (
            f"POST {path} is not POST /predict: no route knows it, so it should answer 404 without taking a token "
            f"(match the route, not a path prefix), got {answer.status_code}")
    answer = post(app, {"features": [ROWS[0]]})
    assert answer.status_code == 200, (
        "the bucket guards POST /predict only: a scanner's requests (GET or POST) to unknown paths must not take "
        "its tokens, so "
        f"the first /predict after them finds its one token (RATE_BURST=1); got {answer.status_code}")


def test_other_methods_on_predict_never_take_a_token(make_app, counting_model):
    clock = FakeClock()
    app = make_app({"RATE_LIMIT": "1", "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    client = app.test_client()
    for method in ("OPTIONS", "GET", "HEAD", "PUT"):
        answer = client.open("/predict", method=method)
        assert answer.status_code != 429, (
            f"{method} /predict is not a prediction (OPTIONS is a browser's CORS preflight, the others get 405): "
            f"only POST /predict takes a token, got 429")
    answer = post(app, {"features": [ROWS[0]]})
    assert answer.status_code == 200, (
        "the bucket guards POST /predict only: OPTIONS, GET, HEAD and PUT requests to /predict must not take its "
        f"tokens, so the first POST after them finds its one token (RATE_BURST=1); got {answer.status_code}")


def test_health_ready_and_metrics_are_never_rate_limited(make_app, counting_model):
    clock = FakeClock()
    app = make_app({"RATE_LIMIT": "1", "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    post(app, {"features": [ROWS[0]]})
    assert post(app, {"features": [ROWS[1]]}).status_code == 429, "the bucket is empty"
    client = app.test_client()
    for _ in range(3):
        for path in ("/health", "/ready", "/metrics"):
            assert client.get(path).status_code == 200, f"GET {path} must not be rate limited (probes would fail)"


@pytest.mark.parametrize("settings", [
    {"RATE_LIMIT": "0"}, {"RATE_LIMIT": "-2"}, {"RATE_LIMIT": "nan"}, {"RATE_LIMIT": "inf"}, {"RATE_LIMIT": "fast"},
    {"RATE_LIMIT": "5", "RATE_BURST": "0.5"}, {"RATE_LIMIT": "5", "RATE_BURST": "0"},
    {"RATE_LIMIT": "5", "RATE_BURST": "lots"}, {"RATE_LIMIT": True}, {"RATE_LIMIT": "5", "RATE_BURST": True},
    {"RATE_LIMIT": "5", "RATE_BURST": "inf"}, {"RATE_LIMIT": 0}, {"RATE_LIMIT": 0.0}, {"RATE_LIMIT": False},
    {"RATE_LIMIT": np.True_}, {"RATE_LIMIT": "5", "RATE_BURST": np.True_}, {"RATE_LIMIT": 10**400},
    {"RATE_LIMIT": "5", "RATE_BURST": "nan"}, {"RATE_LIMIT": "5", "RATE_BURST": np.float64("nan")},
])
def test_a_bad_rate_setting_raises_value_error_naming_it(make_app, counting_model, settings):
    name = "RATE_BURST" if "RATE_BURST" in settings else "RATE_LIMIT"
    before = set(threading.enumerate())
    with pytest.raises(ValueError, match=name):
        make_app(settings, model=counting_model())
    started = set(threading.enumerate()) - before
    deadline = time.monotonic() + 2
    for thread in started:
        thread.join(max(0.0, deadline - time.monotonic()))
    left = [thread.name for thread in started if thread.is_alive()]
    assert not left, (
        f"create_app raised for {settings} but left threads {left} running: check every setting, task 3's too, "
        "before starting the batcher, so a bad setting leaves nothing behind")


def test_rate_burst_is_ignored_without_rate_limit(make_app, counting_model):
    app = make_app({"RATE_BURST": "lots", "MAX_WAIT_MS": 0}, model=counting_model())
    answers = [post(app, {"features": [ROWS[i]]}).status_code for i in range(3)]
    assert answers == [200, 200, 200], (
        f"without RATE_LIMIT there is no rate limit and RATE_BURST is ignored, even a bad one; got {answers}")


def test_a_fractional_rate_and_a_burst_of_one_are_accepted(make_app, counting_model):
    app = make_app({"RATE_LIMIT": "0.5", "RATE_BURST": "1", "MAX_WAIT_MS": 0}, model=counting_model(),
                   clock=FakeClock())
    assert [post(app, {"features": [ROWS[i]]}).status_code for i in range(2)] == [200, 429], "RATE_LIMIT=0.5 with RATE_BURST=1: one request, then 429"


def test_a_fractional_burst_keeps_its_fraction(make_app, counting_model):
    clock = FakeClock()
    app = make_app({"RATE_LIMIT": "1", "RATE_BURST": "2.5", "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    answers = [post(app, {"features": [ROWS[i]]}).status_code for i in range(3)]
    assert answers == [200, 200, 429], f"RATE_BURST=2.5 (any finite number >= 1) holds 2.5 tokens: two requests; got {answers}"
    clock.advance(0.5)
    answers = [post(app, {"features": [ROWS[3 + i]]}).status_code for i in range(2)]
    assert answers == [200, 429], (
        f"the half token left plus 0.5 s at 1 token/s make one whole token: one more request; got {answers}")


def test_a_burst_smaller_than_the_rate_limit_is_kept(make_app, counting_model):
    clock = FakeClock()
    app = make_app({"RATE_LIMIT": "5", "RATE_BURST": "2", "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    answers = [post(app, {"features": [ROWS[i]]}).status_code for i in range(3)]
    assert answers == [200, 200, 429], (
        f"RATE_BURST=2 (any finite number >= 1, also below RATE_LIMIT=5) holds 2 tokens: two requests; got {answers}")
    clock.advance(10)
    answers = [post(app, {"features": [ROWS[3 + i]]}).status_code for i in range(3)]
    assert answers == [200, 200, 429], f"the bucket refills to RATE_BURST=2 and no further; got {answers}"


def test_each_app_has_its_own_token_bucket(make_app, counting_model):
    clock = FakeClock()
    limited = make_app({"RATE_LIMIT": "1", "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    assert post(limited, {"features": [ROWS[0]]}).status_code == 200, "the first app's one token serves a request"
    other = make_app({"RATE_LIMIT": "1", "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    other_code = post(other, {"features": [ROWS[1]]}).status_code
    unlimited = make_app({"MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
    unlimited_codes = [post(unlimited, {"features": [ROWS[2 + i]]}).status_code for i in range(3)]
    limited_code = post(limited, {"features": [ROWS[5]]}).status_code
    assert (other_code, unlimited_codes, limited_code) == (200, [200] * 3, 429), (
        "every app from create_app has its own token bucket (keep it in the app, not in a module-level name "
        "that the next create_app replaces): a second app with RATE_LIMIT=1 starts with its own full bucket, an "
        "app without RATE_LIMIT is never limited, and the first app, whose one token was used at this same "
        f"instant, still answers 429; got {other_code} for the second app, {unlimited_codes} for the unlimited "
        f"one and {limited_code} for the first")


class MeetingClock(FakeClock):
    """A clock that stands still; once armed, its next two readers wait (briefly) for each other, so two
    requests reach the bucket at the same moment. A bucket that reads the clock under its lock makes the
    first reader wait out the short time limit alone, and stays correct."""

    def __init__(self) -> None:
        super().__init__()
        self._armed = 0
        self._lock = threading.Lock()
        self._meeting = threading.Barrier(2)

    def arm(self) -> None:
        self._armed, self._meeting = 2, threading.Barrier(2)

    def __call__(self) -> float:
        with self._lock:
            meet = self._armed > 0
            self._armed -= meet
        if meet:
            try:
                self._meeting.wait(0.3)
            except threading.BrokenBarrierError:
                pass
        return self.now


def test_two_requests_at_once_never_share_the_last_token(make_app, counting_model, impl_dir):
    """Every thread gives up the CPU before each line of your code runs, so a bucket read on one line and
    written on the next interleaves with the other request unless a lock holds them together."""
    for _ in range(3):
        clock = MeetingClock()
        app = make_app({"RATE_LIMIT": "1", "RATE_BURST": "1", "MAX_WAIT_MS": 0}, model=counting_model(), clock=clock)
        clock.arm()
        with switching_threads(impl_dir), ThreadPoolExecutor(max_workers=2) as pool:
            codes = list(pool.map(lambda _, app=app: post(app, b"{not json").status_code, range(2)))  # no model needed
        assert sorted(codes) == [400, 429], (
            "two requests at the same instant against a bucket holding RATE_BURST=1 token (the clock stands still): "
            f"one takes it (here a 400, a bad body) and the other gets 429; got {codes} (refill, check and take "
            "under one lock)")


# --- metrics ------------------------------------------------------------------------------------------------


def test_batch_size_histogram_counts_requests_per_model_call(make_app, counting_model):
    model = counting_model()
    app = make_app({"MAX_BATCH_SIZE": 4, "MAX_WAIT_MS": 3000}, model=model)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: post(app, {"features": ROWS[2 * i:2 * i + 2]}), range(4)))
    found = metrics(app)
    assert found.get("model_batch_size_count") == 1 and found.get("model_batch_size_sum") == 4, (
        "4 concurrent requests of 2 rows in one model call: model_batch_size should have 1 observation of 4 "
        f"(requests, not rows); got count {found.get('model_batch_size_count')}, sum {found.get('model_batch_size_sum')}")
    post(app, {"features": ROWS[:2]})  # a cache hit: no model call
    post(app, b"{not json")  # a 400: never submitted either
    found = metrics(app)
    assert found.get("model_batch_size_count") == 1, "a cached answer makes no model call and no observation"
    assert found.get("model_queue_depth") == 0, (
        "a cached answer and a bad body are never submitted to the batcher, so they never count in "
        f"model_queue_depth: with everything answered it should be 0, got {found.get('model_queue_depth')}")


def test_a_model_call_that_raises_is_still_observed(make_app, counting_model):
    app = make_app({"MAX_WAIT_MS": 0}, model=counting_model(fail_on=ROWS[5]))
    assert post(app, {"features": [ROWS[5]]}).status_code == 503, "a model call that raises answers 503"
    found = metrics(app)
    assert found.get("model_batch_size_count") == 1 and found.get("model_batch_size_sum") == 1, (
        "model_batch_size is observed once per model call, also one that raises: expected 1 observation of 1, got "
        f"count {found.get('model_batch_size_count')}, sum {found.get('model_batch_size_sum')}")
    assert found.get("model_queue_depth") == 0, "after a failed call nothing waits"


def test_a_request_in_a_batch_still_being_collected_counts_in_the_queue_depth(make_app, counting_model):
    model = counting_model()
    app = make_app({"MAX_BATCH_SIZE": 2, "MAX_WAIT_MS": 60_000}, model=model)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(post, app, {"features": [ROWS[0]]})
        assert wait_for_queue_depth(app, 1) == 1, "one request submitted and not yet handed to the model"
        time.sleep(0.2)  # the worker has taken it into a batch by now, and waits up to 60 s for a second request
        depth = metrics(app).get("model_queue_depth")
        second = pool.submit(post, app, {"features": [ROWS[1]]})
        codes = [first.result(timeout=WAIT_S).status_code, second.result(timeout=WAIT_S).status_code]
    assert depth == 1, (
        "model_queue_depth counts requests submitted and not yet handed to the model, including one in a batch the "
        f"worker is still collecting; expected 1, got {depth}")
    assert codes == [200, 200] and model.sizes == [2], f"the second request completes the batch; {codes}, {model.sizes}"
    assert metrics(app).get("model_queue_depth") == 0, "with both answered, nothing waits"


def test_queue_depth_never_reads_below_the_requests_really_waiting(make_app, counting_model, monkeypatch):
    model = counting_model(gated=True)
    app = make_app({"MAX_BATCH_SIZE": 1, "MAX_WAIT_MS": 0}, model=model)
    batcher_class = type(app.extensions["batcher"])
    real_submit = batcher_class.submit
    handed, resume = threading.Event(), threading.Event()

    def submit_then_hold(self, *args, **kwargs):
        # The worker takes the item and hands it to the (held) model before this submit returns to the view.
        future = real_submit(self, *args, **kwargs)
        model.entered.wait(WAIT_S)
        handed.set()
        resume.wait(WAIT_S)
        return future

    monkeypatch.setattr(batcher_class, "submit", submit_then_hold)
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        answer = pool.submit(post, app, {"features": [ROWS[0]]})
        assert handed.wait(WAIT_S) and model.entered.is_set(), "the request should be submitted and reach the model"
        depth = metrics(app).get("model_queue_depth")
    finally:
        resume.set()
        model.open()
        pool.shutdown(wait=True)
    assert answer.result(timeout=WAIT_S).status_code == 200, "the one request should be served"
    assert depth == 0, (
        "the only request was submitted and already handed to the model before its submit returned, so nothing "
        "waits: model_queue_depth should be 0 (a request is counted before it is submitted, never after), "
        f"got {depth}")


def test_queue_depth_is_zero_when_idle_and_back_to_zero_after_a_burst(make_app, counting_model):
    app = make_app({"MAX_WAIT_MS": 1}, model=counting_model())
    assert metrics(app).get("model_queue_depth") == 0, "an idle server has model_queue_depth 0"
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda row: post(app, {"features": [row]}), ROWS[:16]))
    assert metrics(app).get("model_queue_depth") == 0, "after every request is answered, model_queue_depth is 0"


def test_day_03_metrics_are_still_there(make_app, counting_model):
    app = make_app({"MAX_WAIT_MS": 0}, model=counting_model())
    post(app, {"features": [ROWS[0]]})
    post(app, b"{bad")
    for path in ("/health", "/ready", "/no-such-path"):
        app.test_client().get(path)
    found = metrics(app)
    for key in ('model_requests_total{endpoint="/predict",status="200"}',
                'model_requests_total{endpoint="/predict",status="400"}',
                'model_requests_total{endpoint="/health",status="200"}'):
        assert found.get(key) == 1, f"{key} should be 1, got {found.get(key)}"
    assert found.get('model_request_latency_seconds_count{endpoint="/predict"}') == 2, (
        "model_request_latency_seconds should observe both /predict requests")
    latency = {key: value for key, value in found.items() if key.startswith("model_request_latency_seconds_count")}
    for endpoint in ("/health", "/ready", "unmatched"):
        key = f'model_request_latency_seconds_count{{endpoint="{endpoint}"}}'
        assert found.get(key) == 1, (
            f"as on day 03, model_request_latency_seconds times every answered request except /metrics (health, "
            f"ready and a 404 too, not only /predict): after one GET of each, {key} should be 1; the histogram's "
            f"counts are {latency}")


def test_each_app_exposes_only_its_own_metrics(make_app, counting_model):
    first = make_app({"MAX_WAIT_MS": 0}, model=counting_model())
    assert post(first, {"features": [ROWS[0]]}).status_code == 200, "the first app serves a request"
    second = make_app({"MAX_WAIT_MS": 0}, model=counting_model())
    for row in ROWS[1:3]:
        assert post(second, {"features": [row]}).status_code == 200, "the second app serves two requests"
    key = 'model_requests_total{endpoint="/predict",status="200"}'
    counts = {"first": metrics(first).get(key), "second": metrics(second).get(key)}
    batches = {"first": metrics(first).get("model_batch_size_count"),
               "second": metrics(second).get("model_batch_size_count")}
    assert counts == {"first": 1, "second": 2} and batches == {"first": 1, "second": 2}, (
        "every app has its own registry: its /metrics counts its own requests and model calls only, also after "
        f"another app was made (never the process-wide default registry); got {key} {counts} and "
        f"model_batch_size_count {batches}")


def test_day_03_labels_hold_unknown_paths_are_unmatched_and_scrapes_uncounted(make_app, counting_model):
    app = make_app({"MAX_WAIT_MS": 0}, model=counting_model())
    for path in ("/wp-login.php", "/admin/.env", "/metrics/"):
        app.test_client().get(path)
    metrics(app)  # a scrape: /metrics itself is never counted
    samples = metrics(app)
    found = {key: value for key, value in samples.items() if key.startswith("model_requests_total")}
    assert found.get('model_requests_total{endpoint="unmatched",status="404"}') == 3, (
        "as on day 03, a path no route knows is counted under endpoint=\"unmatched\" (a scanner's random paths "
        f"must not make a time series each); the counter holds {found}")
    assert not [key for key in found if "wp-login" in key or ".env" in key or 'endpoint="/metrics' in key], (
        f"as on day 03, endpoint is the route pattern or unmatched, never the raw path, and /metrics is not counted: {found}")
    timed = {key: value for key, value in samples.items() if key.startswith("model_request_latency_seconds_count")}
    assert timed.get('model_request_latency_seconds_count{endpoint="unmatched"}') == 3, (
        "as on day 03, model_request_latency_seconds labels a path no route knows endpoint=\"unmatched\", as the "
        f"counter does (a scanner's random paths must not make a time series each); the histogram holds {timed}")
    assert not [key for key in timed if "wp-login" in key or ".env" in key or 'endpoint="/metrics' in key], (
        "as on day 03, the latency histogram's endpoint is the route pattern or unmatched, never the raw path, and "
        f"/metrics is not timed: {timed}")

"""Task 2: /predict through the micro-batcher, and the answer cache, checked in process.

`counting_model()` wraps the day-03 model and records the rows of every `predict` call,
so "one model call per batch" is counted, not timed. Concurrent requests come from
threads, each with its own Flask test client.
"""

import io
import json
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mlops_katas.interleave import switching_threads
from mlops_katas.uploads import EndlessUpload, post_chunked

pytestmark = pytest.mark.task(taskno=2)

MiB = 1024 * 1024
ROWS = np.random.default_rng(17).normal(scale=2.0, size=(64, 4)).round(3).tolist()
LONG_WAIT_MS = 3000  # long enough that requests sent together always share a batch


def post(app, body):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return app.test_client().post("/predict", data=data, content_type="application/json")


def post_all(app, bodies, workers=None):
    """POST every body at once, from its own thread; answers in the bodies' order."""
    with ThreadPoolExecutor(max_workers=workers or len(bodies)) as pool:
        return list(pool.map(lambda body: post(app, body), bodies))


def wait_ready(app, seconds=10.0):
    client = app.test_client()
    deadline = time.monotonic() + seconds
    while (answer := client.get("/ready")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    return answer


def expected(reference_model, rows):
    return reference_model.predict(np.asarray(rows, dtype=float)).tolist()


class SumModel:
    """A model that costs next to nothing: the sum of each row; counts its calls."""

    def __init__(self) -> None:
        self.calls = []

    def predict(self, X):
        self.calls.append(len(X))
        return np.asarray(X, dtype=float).sum(axis=1)


# --- day 03's contract, still -----------------------------------------------------------------


def test_health_ready_and_predict_serve_the_model_from_model_path(make_app, model_file, reference_model):
    app = make_app({"MODEL_PATH": str(model_file), "MODEL_VERSION": "v17"})
    assert wait_ready(app).status_code == 200, "GET /ready should answer 200 once the model is loaded"
    health = app.test_client().get("/health")
    assert health.status_code == 200 and health.get_json() == {"status": "ok", "model_version": "v17"}, (
        f"GET /health should answer {{'status': 'ok', 'model_version': 'v17'}}, got {health.get_json()}")
    answer = post(app, {"features": ROWS[:10]})
    assert answer.status_code == 200, f"a valid batch should get 200, got {answer.status_code}: {answer.data[:200]!r}"
    assert answer.get_json() == {"predictions": expected(reference_model, ROWS[:10]), "model_version": "v17"}, (
        "/predict should answer the model's predictions, one per row in order, and the model_version")
    single = post(app, {"features": ROWS[0]})
    assert single.get_json()["predictions"] == expected(reference_model, ROWS[:1]), (
        "a single row [f, f, f, f] is a batch of one")


def test_a_batch_of_exactly_four_rows_is_four_rows(make_app, counting_model, reference_model):
    model = counting_model()
    app = make_app({"MAX_WAIT_MS": 0}, model=model)
    answer = post(app, {"features": ROWS[20:24]})
    assert answer.status_code == 200 and answer.get_json()["predictions"] == expected(reference_model, ROWS[20:24]), (
        "a list of 4 rows is a batch of 4 (rows are never regrouped, as on day 03): it should get 4 predictions, "
        f"got {answer.status_code} {answer.get_json()}")
    assert model.calls == [ROWS[20:24]], f"the model should see the 4 rows; calls {model.calls}"


def test_model_path_comes_from_the_environment_when_config_lacks_it(make_app, model_file, monkeypatch):
    monkeypatch.setenv("MODEL_PATH", str(model_file))
    monkeypatch.setenv("MODEL_VERSION", "from-env")
    app = make_app()
    assert wait_ready(app).status_code == 200, "MODEL_PATH from the environment should be loaded"
    assert app.test_client().get("/health").get_json()["model_version"] == "from-env", "MODEL_VERSION from the env"
    app = make_app({"MODEL_VERSION": "from-config"})
    assert app.test_client().get("/health").get_json()["model_version"] == "from-config", (
        "a key in config wins over the environment variable")


@pytest.mark.parametrize("where", ["config", "environment"])
def test_model_version_is_served_exactly_as_given(make_app, monkeypatch, where):
    version = " v2 "
    if where == "environment":
        monkeypatch.setenv("MODEL_VERSION", version)
    app = make_app({"MODEL_VERSION": version} if where == "config" else {"MAX_WAIT_MS": 0}, model=SumModel())
    health = app.test_client().get("/health").get_json()["model_version"]
    answer = post(app, {"features": [[1, 2, 3, 4]]}).get_json()["model_version"]
    assert health == version and answer == version, (
        f"MODEL_VERSION is any text, served exactly as given: {version!r} from the {where} should come back with its "
        f"spaces in /health and /predict (do not strip it); got {health!r} and {answer!r}")


def test_create_app_leaves_its_config_as_it_was(make_app, counting_model, monkeypatch):
    config = {"MAX_WAIT_MS": 0, "CACHE_SIZE": 8}
    make_app(config, model=counting_model())
    assert config == {"MAX_WAIT_MS": 0, "CACHE_SIZE": 8}, (
        f"create_app should leave the config it is given as it was (merge it with the environment into a dict of "
        f"your own), got {config}")
    monkeypatch.setenv("MODEL_VERSION", "second")
    version = make_app(config, model=counting_model()).test_client().get("/health").get_json()["model_version"]
    assert version == "second", (
        "a second app built from the same config dict should read the keys it lacks from its own environment "
        f"(MODEL_VERSION=second), got {version!r}")


def test_model_path_in_config_wins_over_the_environment(make_app, model_file, monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "missing.skops"))
    app = make_app({"MODEL_PATH": str(model_file)})
    assert wait_ready(app).status_code == 200, (
        "MODEL_PATH in config wins over the environment variable: the config's file should be loaded, not the "
        "missing one the environment names")


def test_a_given_model_is_served_without_any_model_path(make_app, counting_model, reference_model):
    model = counting_model()
    app = make_app({"MODEL_VERSION": "injected"}, model=model)
    assert wait_ready(app).status_code == 200, "an app given `model=` is ready"
    answer = post(app, {"features": ROWS[:3]})
    assert answer.get_json() == {"predictions": expected(reference_model, ROWS[:3]), "model_version": "injected"}, "the given model's predictions and the configured version"
    assert model.calls == [ROWS[:3]], f"the given model should be called with the request's rows, got {model.calls}"


class ShapeRecordingModel(SumModel):
    """A model that notes what each predict call was given: its type, number of dimensions and dtype."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs = []

    def predict(self, X):
        self.inputs.append((type(X).__name__, getattr(X, "ndim", None), getattr(getattr(X, "dtype", None), "kind", None)))
        return super().predict(X)


def test_the_model_is_given_a_2d_float_array_even_for_whole_number_rows(make_app):
    model = ShapeRecordingModel()
    app = make_app({"MAX_WAIT_MS": 0}, model=model)
    for body in ({"features": [1, 2, 3, 4]}, {"features": [[1, 2, 3, 4], [5, 6, 7, 8]]}):
        answer = post(app, body)
        assert answer.status_code == 200, f"{body} should be served, got {answer.status_code}"
    assert model.inputs == [("ndarray", 2, "f")] * 2, (
        "model.predict takes a 2-D float array (as scikit-learn's does), also when every feature was written as a "
        f"whole number; it was given (type, ndim, dtype kind) {model.inputs}: build one numpy float array of the "
        "batch's rows"
    )


def test_a_given_model_wins_over_model_path(make_app, model_file, monkeypatch):
    monkeypatch.setenv("MODEL_PATH", str(model_file))
    model = SumModel()
    app = make_app({"MODEL_PATH": str(model_file)}, model=model)
    answer = post(app, {"features": [[1, 2, 3, 4.5]]})
    assert answer.status_code == 200 and answer.get_json()["predictions"] == [10.5], (
        "with `model=` given, that model is served and MODEL_PATH is not read; the answer should be the given "
        f"model's prediction 10.5, got {answer.status_code} {answer.get_json()}")
    assert model.calls == [1], f"the given model should have been called once, on one row; calls {model.calls}"


class FalsyModel(SumModel):
    """A model that is falsy, as any object whose len() is 0 is (a container of sub-models, say)."""

    def __len__(self) -> int:
        return 0


def test_a_given_model_is_served_even_when_it_is_falsy(make_app):
    model = FalsyModel()
    app = make_app({"MAX_WAIT_MS": 0}, model=model)
    ready = app.test_client().get("/ready").status_code
    answer = post(app, {"features": [[1, 2, 3, 4.5]]})
    assert ready == 200 and answer.status_code == 200 and answer.get_json()["predictions"] == [10.5], (
        "`model=` is served whatever its truth value: a given model whose len() is 0 is still a model (test "
        f"`model is None`, not `not model` or `model or load(...)`); /ready gave {ready} and /predict "
        f"{answer.status_code} {answer.get_json()}")


def test_a_given_model_means_model_path_is_never_opened(make_app, tmp_path):
    # A FIFO blocks whoever opens it for reading until a writer comes: a server that opens MODEL_PATH
    # although it was given `model=` hangs here, where a real file would only cost a wasted load.
    fifo = tmp_path / "model.skops"
    os.mkfifo(fifo)
    built = {}

    def build():
        try:
            built["app"] = make_app({"MODEL_PATH": str(fifo)}, model=SumModel())
        except BaseException as error:  # raised again below, in the test's own thread (a stub's "not done yet" too)
            built["error"] = error

    builder = threading.Thread(target=build, daemon=True)
    builder.start()
    builder.join(10)
    if builder.is_alive():
        try:  # a writer that comes and goes: the blocked reader sees an empty file, and the thread ends
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        builder.join(10)
        pytest.fail("create_app with `model=` given opened MODEL_PATH (a FIFO nobody writes to) and was still "
                    "blocked after 10 s: with `model=` the given model is served and MODEL_PATH is not read at all")
    if "error" in built:
        raise built["error"]
    assert "app" in built, "create_app with `model=` and a MODEL_PATH should return an app"
    answer = post(built["app"], {"features": [[1, 2, 3, 4.5]]})
    assert answer.status_code == 200 and answer.get_json()["predictions"] == [10.5], (
        f"the given model should be served, got {answer.status_code} {answer.get_json()}")


def _pickle_that_writes(marker):
    import pickle

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return pickle.dumps(Payload())


def _skops_naming_os_system(path):
    import os

    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    skops.io.dump(make_pipeline(FunctionTransformer(os.system), LogisticRegression()), path)


@pytest.mark.parametrize("kind", ["pickle", "skops naming os.system"])
def test_a_model_file_that_is_not_a_safe_skops_model_leaves_the_server_not_ready(make_app, tmp_path, kind):
    evil, marker = tmp_path / "model.skops", tmp_path / "code-ran"
    if kind == "pickle":
        evil.write_bytes(_pickle_that_writes(marker))
    else:
        _skops_naming_os_system(evil)
    app = make_app({"MODEL_PATH": str(evil)})
    assert not marker.exists(), "loading the model ran code from the file: never unpickle it, use skops.io.load"
    ready = app.test_client().get("/ready")
    assert ready.status_code == 503, (
        f"a {kind} file was loaded as the model: load MODEL_PATH with skops.io.load trusting only skops' default "
        "types (never the file's own list from get_untrusted_types); /ready should answer 503")


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", None],
                         ids=["form", "text", "none"])
def test_the_body_is_read_as_json_whatever_its_content_type(make_app, counting_model, reference_model, content_type):
    app = make_app({"MAX_WAIT_MS": 0}, model=counting_model())
    headers = {"Content-Type": content_type} if content_type else {}
    answer = app.test_client().post("/predict", data=json.dumps({"features": [ROWS[0]]}).encode(), headers=headers)
    assert answer.status_code == 200 and answer.get_json()["predictions"] == expected(reference_model, [ROWS[0]]), (
        f"as on day 03, the body is read as JSON whatever its Content-Type says ({content_type or 'none'} here: "
        "curl -d sends application/x-www-form-urlencoded, some clients send none); a valid body should get 200 "
        f"and its prediction, got {answer.status_code} {answer.data[:200]!r} (request.get_json() without "
        "force=True reads only application/json: parse request.get_data() yourself)")


def test_unknown_paths_and_wrong_methods_answer_json_errors(make_app, counting_model):
    client = make_app(model=counting_model()).test_client()
    for method, path, code in (("GET", "/no-such-path", 404), ("GET", "/predict", 405), ("DELETE", "/health", 405)):
        answer = client.open(path, method=method)
        body = answer.get_json(silent=True)
        assert answer.status_code == code and isinstance(body, dict) and isinstance(body.get("error"), str) and (
            body["error"]), (
            f"as on day 03, every HTTP error answers JSON {{\"error\": \"...\"}}, never Flask's HTML page: {method} "
            f"{path} should get {code} with one, got {answer.status_code} {answer.data[:120]!r} (register the error "
            "handler for werkzeug's HTTPException, not only for the 413)")


def test_without_a_model_the_server_is_alive_but_not_ready(make_app, tmp_path):
    app = make_app({"MODEL_PATH": str(tmp_path / "missing.skops")})
    client = app.test_client()
    assert client.get("/health").status_code == 200, "/health answers 200 without a model"
    assert client.get("/ready").status_code == 503, "/ready answers 503 when the model could not be loaded"
    answer = post(app, {"features": ROWS[:2]})
    assert answer.status_code == 503 and answer.get_json().get("error"), (
        f"/predict without a model should answer 503 with an error, got {answer.status_code}")


@pytest.mark.parametrize("body", [
    b"{not json", b"[]", b'{"rows": [[1, 2, 3, 4]]}', b'{"features": []}', b'{"features": [[1, 2, 3]]}',
    b'{"features": [[1, 2, 3, "4"]]}', b'{"features": [[1, 2, 3, true]]}', b'{"features": [[1, 2, 3, NaN]]}',
    b'{"features": [[1, 2, 3, 1e400]]}', b'{"features": [[1, 2, 3, null]]}', b'{"features": [[1, 2, 3, 4], [1]]}',
    b"[" * 100_000, b'{"features": [[1, 2, 3, 1' + b"0" * 400 + b']]}', b'{"features": [[1, 2, 3, 1' + b"0" * 5000 + b']]}',
    b'{"features": [[1, 2, 3, 4], 5]}', b'{"features": 5}', b'{"features": {"a": 1}}',
    b'{"features": [[1.0, 2.0, 3.0, 4.0\xff]]}',
    b'{"features": [1, 2, 3]}', b'{"features": [1, 2, 3, NaN]}', b'{"features": [1, 2, 3, true]}',
    b'{"features": [1, 2, 3, 4, 5]}',
], ids=lambda body: body[:30].decode() + (f"-{len(body)}-bytes" if len(body) > 100 else ""))
def test_bad_bodies_get_400_and_never_reach_the_model(make_app, counting_model, body):
    model = counting_model()
    app = make_app(model=model)
    answer = post(app, body)
    assert answer.status_code == 400, (
        f"{body[:40]!r} should be answered with 400, got {answer.status_code} (bad input never causes a 500: a body "
        "that is not UTF-8 is not JSON either, so decode it where its errors become a 400)")
    error = (answer.get_json(silent=True) or {}).get("error")
    assert isinstance(error, str) and error, "a 400 carries {\"error\": \"...\"}"
    assert model.calls == [], "a bad request must never reach the model"


def test_a_body_over_one_mib_gets_413_and_one_of_exactly_one_mib_is_served(make_app, counting_model):
    app = make_app(model=counting_model())
    big = post(app, b"[" * (MiB + 1))
    assert big.status_code == 413, f"a body over 1 MiB should get 413, got {big.status_code}"
    row = json.dumps({"features": [1, 2, 3, 4]}).encode()
    exact = row[:-1] + b" " * (MiB - len(row)) + b"}"
    assert len(exact) == MiB, "test setup: the body should be exactly 1 MiB"
    assert post(app, exact).status_code == 200, "a body of exactly 1 MiB should be served"


def test_a_body_over_one_mib_is_answered_with_a_json_error(make_app, counting_model):
    answer = post(make_app(model=counting_model()), b"[" * (MiB + 1))
    assert answer.status_code == 413, f"a body over 1 MiB should get 413, got {answer.status_code}"
    body = answer.get_json(silent=True)
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], (
        "as on day 03, the 413 carries a JSON body {\"error\": \"...\"}, not Flask's HTML page (register an "
        f"error handler for werkzeug's HTTPException); got {answer.data[:200]!r}")


@pytest.mark.parametrize("shape", ["rows past the limit", "valid JSON padded past the limit"])
def test_a_chunked_body_over_one_mib_is_never_served(make_app, counting_model, shape):
    # Sent in chunks, the body has no Content-Length; a WSGI server such as gunicorn then
    # sets wsgi.input_terminated and leaves the limit to the application.
    model = counting_model()
    app = make_app(model=model)
    row = json.dumps(ROWS[0])
    if shape == "rows past the limit":
        body = ('{"features": [' + ",".join([row] * (MiB // len(row) + 10)) + "]}").encode()
        allowed, why = (400, 413), "413, or 400 for the cut-off JSON"
    else:  # its first MiB is a whole, valid request: only its size is wrong
        body = ('{"features": [' + row + "]}").encode() + b" " * (2 * MiB)
        allowed, why = (413,), "413: cut at 1 MiB it would still be valid JSON, so only a size check refuses it"
    answer = post_chunked(app.test_client(), "/predict", io.BytesIO(body))
    assert answer.status_code in allowed, (
        f"a chunked body over 1 MiB (no Content-Length, {shape}) should be refused ({why}), got "
        f"{answer.status_code}: as on day 03, check the size of what is read, not only the Content-Length header; "
        "read at most 1 MiB + 1 bytes and refuse when you got more than 1 MiB (Flask's MAX_CONTENT_LENGTH alone "
        "checks the header, and request.get_data() then stops at the limit without saying the body went on)")
    assert model.calls == [], "a body over 1 MiB must never reach the model"


def test_a_chunked_body_is_not_read_far_past_the_limit(make_app, counting_model):
    # A client can send gigabytes without a Content-Length: the server must stop reading soon after 1 MiB.
    app = make_app(model=counting_model())
    upload = EndlessUpload(('{"features": [' + ",".join([json.dumps(ROWS[0])] * 2000)).encode(), size=48 * MiB)
    answer = post_chunked(app.test_client(), "/predict", upload)
    assert answer.status_code in (400, 413), (
        f"a chunked body of 48 MiB should be refused (413, or 400 for the cut-off JSON), got {answer.status_code}")
    assert upload.read_bytes <= 2 * MiB, (
        f"the server read {upload.read_bytes / MiB:.1f} MiB of a chunked body before refusing it: as on day 03, stop "
        "reading once it is over 1 MiB (Flask's MAX_CONTENT_LENGTH does; so does reading at most 1 MiB + 1 bytes)")


def test_predictions_are_the_models_own_values_so_integer_classes_stay_integers(make_app, model_file,
                                                                                  reference_model):
    app = make_app({"MODEL_PATH": str(model_file), "MAX_WAIT_MS": 0})
    assert wait_ready(app).status_code == 200, "the day-03 model should load"
    want = expected(reference_model, ROWS[:12])
    assert all(type(label) is int for label in want), "test setup: day 03's model predicts the integer classes 0, 1, 2"
    for attempt in ("from the model", "from the cache"):
        answer = post(app, {"features": ROWS[:12]})
        got = answer.get_json()["predictions"]
        assert got == want and all(type(label) is int for label in got), (
            f"answered {attempt}, the predictions should be the model's own values, as on day 03 (its classes are "
            f"the integers 0, 1 and 2, so 1, not 1.0): expected {want}, got {got} (do not cast the model's output "
            "to float; .tolist() keeps its type)")


# --- batching ---------------------------------------------------------------------------------------


def test_concurrent_requests_share_one_model_call_and_each_gets_its_own_answer(make_app, counting_model,
                                                                               reference_model):
    model = counting_model()
    app = make_app({"MAX_BATCH_SIZE": 8, "MAX_WAIT_MS": LONG_WAIT_MS}, model=model)
    answers = post_all(app, [{"features": [row]} for row in ROWS[:8]])
    assert [a.status_code for a in answers] == [200] * 8, f"got {[a.status_code for a in answers]}"
    got = [a.get_json()["predictions"] for a in answers]
    assert got == [expected(reference_model, [row]) for row in ROWS[:8]], (
        "each request should be answered with the prediction for its own row")
    assert model.sizes == [8], (
        f"8 concurrent requests with MAX_BATCH_SIZE=8 should make ONE model call of 8 rows; calls had {model.sizes}")


def test_max_batch_size_counts_requests_and_a_batch_calls_the_model_once_on_all_their_rows(
        make_app, counting_model, reference_model):
    model = counting_model()
    app = make_app({"MAX_BATCH_SIZE": 3, "MAX_WAIT_MS": LONG_WAIT_MS}, model=model)
    bodies = [{"features": ROWS[0:1]}, {"features": ROWS[1:4]}, {"features": ROWS[4:6]}]
    answers = post_all(app, bodies)
    assert [a.get_json()["predictions"] for a in answers] == [expected(reference_model, b["features"]) for b in bodies], (
        "each request should get the predictions of its own rows, in order")
    assert model.sizes == [6], (
        "3 requests of 1, 3 and 2 rows with MAX_BATCH_SIZE=3 (requests, not rows) should make ONE model call on "
        f"all 6 rows; calls had {model.sizes} rows")
    assert sorted(map(tuple, model.calls[0])) == sorted(map(tuple, ROWS[:6])), "the call should hold every row once"


def test_max_batch_size_defaults_to_32(make_app, counting_model):
    model = counting_model()
    app = make_app({"MAX_WAIT_MS": LONG_WAIT_MS}, model=model)
    answers = post_all(app, [{"features": [row]} for row in ROWS[:64]])
    assert all(a.status_code == 200 for a in answers), "every request should be answered"
    assert max(model.sizes) == 32, f"by default a model call holds at most 32 requests; calls had {model.sizes}"


@pytest.mark.parametrize("where", ["config", "environment"])
def test_max_batch_size_from_config_or_environment(make_app, counting_model, monkeypatch, where):
    model = counting_model()
    if where == "config":
        monkeypatch.setenv("MAX_BATCH_SIZE", "4")
        app = make_app({"MAX_BATCH_SIZE": "2", "MAX_WAIT_MS": LONG_WAIT_MS}, model=model)
    else:
        monkeypatch.setenv("MAX_BATCH_SIZE", "2")
        app = make_app({"MAX_WAIT_MS": LONG_WAIT_MS}, model=model)
    post_all(app, [{"features": [row]} for row in ROWS[:4]])
    assert model.sizes == [2, 2], (
        f"MAX_BATCH_SIZE=2 from the {where} (config wins over the environment) should give two calls of 2 rows "
        f"for 4 concurrent requests; calls had {model.sizes}")


@pytest.mark.parametrize("wait_ms, gap_s", [(LONG_WAIT_MS, 0.3), (900, 0.05)])
def test_max_wait_ms_is_in_milliseconds(make_app, counting_model, wait_ms, gap_s):
    model = counting_model()
    app = make_app({"MAX_BATCH_SIZE": 2, "MAX_WAIT_MS": wait_ms}, model=model)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(post, app, {"features": [ROWS[0]]})
        time.sleep(gap_s)
        second = pool.submit(post, app, {"features": [ROWS[1]]})
        assert first.result(timeout=30).status_code == 200 and second.result(timeout=30).status_code == 200, "both requests should be served"
    assert model.sizes == [2], (
        f"with MAX_WAIT_MS={wait_ms} ({wait_ms / 1000:g} s, a fraction of a second is not 0), a request sent "
        f"{gap_s} s after the first should join its batch; calls had {model.sizes} rows")


@pytest.mark.parametrize("where", ["environment", "config over the environment"])
def test_max_wait_ms_from_the_environment_or_config(make_app, counting_model, monkeypatch, where):
    model = counting_model()
    monkeypatch.setenv("MAX_WAIT_MS", str(LONG_WAIT_MS))
    config = {"MAX_BATCH_SIZE": 2}
    if where != "environment":
        config["MAX_WAIT_MS"] = 0
    app = make_app(config, model=model)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(post, app, {"features": [ROWS[0]]})
        time.sleep(0.3)
        second = pool.submit(post, app, {"features": [ROWS[1]]})
        codes = [first.result(timeout=30).status_code, second.result(timeout=30).status_code]
    assert codes == [200, 200], f"both requests should be served, got {codes}"
    if where == "environment":
        assert model.sizes == [2], (
            f"MAX_WAIT_MS={LONG_WAIT_MS} from the environment: a request sent 0.3 s after another should join its "
            f"batch; calls had {model.sizes} rows")
    else:
        assert model.sizes == [1, 1], (
            f"MAX_WAIT_MS=0 in config wins over {LONG_WAIT_MS} in the environment (also when it is 0): a request "
            f"sent 0.3 s after another should not share its model call; calls had {model.sizes} rows")


@pytest.mark.parametrize("given, seconds", [(0, 0.0), ("0", 0.0), (0.0, 0.0), ("2.5", 0.0025), (None, 0.005)],
                         ids=["0", "'0'", "0.0", "'2.5'", "unset"])
def test_max_wait_ms_reaches_the_batcher_in_seconds_zero_included(make_app, counting_model, monkeypatch, given,
                                                                  seconds):
    import inspect

    import batcher

    made, init = [], batcher.MicroBatcher.__init__

    def recording(self, *args, **kwargs):
        bound = inspect.signature(init).bind(self, *args, **kwargs)
        bound.apply_defaults()
        made.append(bound.arguments["max_wait_s"])
        init(self, *args, **kwargs)

    # A 5 ms wait in place of none is too short to time: look at what the server gives your MicroBatcher instead.
    monkeypatch.setattr(batcher.MicroBatcher, "__init__", recording)
    monkeypatch.delenv("MAX_WAIT_MS", raising=False)
    app = make_app({} if given is None else {"MAX_WAIT_MS": given}, model=counting_model())
    assert post(app, {"features": [ROWS[0]]}).status_code == 200, "a valid request should be served"
    assert made and made[-1] == pytest.approx(seconds, abs=1e-12), (
        f"MAX_WAIT_MS={given!r} should reach the MicroBatcher as max_wait_s={seconds:g} (0 means never wait, not "
        f"the 5 ms default; unset means 5 ms); it got {made}")


def test_the_default_wait_is_milliseconds_not_seconds(make_app, counting_model):
    model = counting_model()
    app = make_app({"MAX_BATCH_SIZE": 2}, model=model)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(post, app, {"features": [ROWS[0]]})
        time.sleep(0.5)
        second = pool.submit(post, app, {"features": [ROWS[1]]})
        assert first.result(timeout=30).status_code == 200 and second.result(timeout=30).status_code == 200, "both requests should be served"
    assert model.sizes == [1, 1], (
        f"with the default MAX_WAIT_MS (5 ms) a request sent 0.5 s after another should not share its model call; "
        f"calls had {model.sizes} rows")


def test_a_lone_request_waits_out_a_long_max_wait_ms_and_is_served(make_app, counting_model, reference_model):
    model = counting_model()
    app = make_app({"MAX_BATCH_SIZE": 2, "MAX_WAIT_MS": 2500}, model=model)
    started = time.monotonic()
    answer = post(app, {"features": [ROWS[0]]})
    waited = time.monotonic() - started
    assert answer.status_code == 200 and answer.get_json()["predictions"] == expected(reference_model, [ROWS[0]]), (
        f"a lone request with MAX_WAIT_MS=2500 is sent once its 2.5 s have passed and then answered as usual; "
        f"got {answer.status_code} {answer.get_json()} after {waited:.1f} s (a time limit on waiting for the "
        "answer should sit well above the batch's deadline, as future.result(timeout=30) does, not 1 s)")
    assert model.sizes == [1], f"the lone request should make one model call of 1 row; calls had {model.sizes}"


def test_a_slow_model_call_is_waited_for_and_answered_not_timed_out(make_app, counting_model, reference_model):
    model = counting_model(gated=True)
    app = make_app({"MAX_WAIT_MS": 0}, model=model)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(post, app, {"features": [ROWS[0]]})
        assert model.entered.wait(10), "the request should reach the model"
        time.sleep(3)  # the model call takes about 3 s
        model.open()
        answer = pending.result(timeout=30)
    assert answer.status_code == 200 and answer.get_json()["predictions"] == expected(reference_model, [ROWS[0]]), (
        "with MAX_WAIT_MS=0 and a model call that takes about 3 s, the request waits for its batch to be predicted "
        f"and is answered as usual; got {answer.status_code} {answer.get_json()} (a time limit on waiting for the "
        "answer must leave room for the model's own time, as future.result(timeout=30) does, not the deadline plus "
        "1 s)")


def test_a_failed_model_call_answers_503_and_the_next_request_is_served(make_app, counting_model, reference_model):
    model = counting_model(fail_on=ROWS[5])
    app = make_app({"MAX_WAIT_MS": 0}, model=model)
    failed = post(app, {"features": [ROWS[5]]})
    assert failed.status_code == 503, f"a model call that raises should answer 503, got {failed.status_code}"
    assert (failed.get_json(silent=True) or {}).get("error"), "the 503 carries {\"error\": \"...\"}"
    again = post(app, {"features": [ROWS[5]]})
    assert again.status_code == 503 and len(model.calls) == 2, "a failed answer must not be cached"
    good = post(app, {"features": [ROWS[6]]})
    assert good.status_code == 200 and good.get_json()["predictions"] == expected(reference_model, [ROWS[6]]), (
        "after a failed model call the server should go on serving")


def test_a_failed_batch_answers_503_to_every_request_in_it(make_app, counting_model):
    model = counting_model(fail_on=ROWS[5])
    app = make_app({"MAX_BATCH_SIZE": 2, "MAX_WAIT_MS": LONG_WAIT_MS}, model=model)
    answers = post_all(app, [{"features": [ROWS[5]]}, {"features": [ROWS[6]]}])
    assert [a.status_code for a in answers] == [503, 503] and len(model.calls) == 1, (
        "a model call that raises answers every request of its batch with 503, after one model call (not a "
        f"retry of each request alone); got {[a.status_code for a in answers]} after {len(model.calls)} calls")


@pytest.mark.parametrize("setting, value", [
    ("MAX_BATCH_SIZE", "0"), ("MAX_BATCH_SIZE", "-1"), ("MAX_BATCH_SIZE", "abc"), ("MAX_BATCH_SIZE", "2.5"),
    ("MAX_BATCH_SIZE", True), ("MAX_WAIT_MS", "-1"), ("MAX_WAIT_MS", "nan"), ("MAX_WAIT_MS", "soon"),
    ("MAX_WAIT_MS", True), ("MAX_QUEUE", "0"), ("MAX_QUEUE", "ten"), ("MAX_QUEUE", 2.5), ("CACHE_SIZE", "-1"),
    ("CACHE_SIZE", "many"), ("CACHE_SIZE", "2.5"), ("CACHE_SIZE", False), ("MAX_BATCH_SIZE", "inf"),
    ("MAX_QUEUE", "nan"), ("CACHE_SIZE", "1e400"), ("MAX_WAIT_MS", "inf"),
    pytest.param("MAX_QUEUE", 10**400, id="MAX_QUEUE-int-10**400"),
    pytest.param("MAX_BATCH_SIZE", np.True_, id="MAX_BATCH_SIZE-np.True_"),
    pytest.param("CACHE_SIZE", np.False_, id="CACHE_SIZE-np.False_"),
    pytest.param("MAX_BATCH_SIZE", np.float32(2.5), id="MAX_BATCH_SIZE-np.float32(2.5)"),
    pytest.param("CACHE_SIZE", np.float32(0.5), id="CACHE_SIZE-np.float32(0.5)"),
    ("MAX_BATCH_SIZE", "nan"), pytest.param("CACHE_SIZE", float("nan"), id="CACHE_SIZE-float-nan"),
])
def test_a_bad_setting_raises_value_error_naming_it(make_app, counting_model, setting, value):
    before = set(threading.enumerate())
    with pytest.raises(ValueError, match=setting):
        make_app({setting: value}, model=counting_model())
    assert not threads_left_running(before), (
        f"create_app raised for {setting}={value!r} but left a thread running: check every setting before starting "
        "the batcher, so a bad setting leaves nothing behind")


def threads_left_running(before: set, seconds: float = 2.0) -> list[str]:
    """Names of the threads started since `before` that are still alive after `seconds`."""
    started = set(threading.enumerate()) - before
    deadline = time.monotonic() + seconds
    for thread in started:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [thread.name for thread in started if thread.is_alive()]


def test_the_smallest_allowed_settings_are_accepted(make_app, counting_model, reference_model):
    app = make_app({"MAX_BATCH_SIZE": "1", "MAX_WAIT_MS": "0", "MAX_QUEUE": "1", "CACHE_SIZE": "0"},
                   model=counting_model())
    answer = post(app, {"features": [ROWS[0]]})
    assert answer.status_code == 200 and answer.get_json()["predictions"] == expected(reference_model, [ROWS[0]]), "the smallest allowed settings should still serve predictions"


@pytest.mark.parametrize("batch_size", ["2.0", 2.0, np.int64(2), np.float32(2.0)],
                         ids=["text", "float", "numpy-int64", "numpy-float32"])
def test_a_whole_number_setting_may_be_written_as_any_whole_number(make_app, counting_model, batch_size):
    # "2.0" and 2.0 are whole numbers, not fractions: they are read as 2, not refused.
    model = counting_model()
    app = make_app({"MAX_BATCH_SIZE": batch_size, "MAX_WAIT_MS": LONG_WAIT_MS, "MAX_QUEUE": "10.0",
                    "CACHE_SIZE": 8.0}, model=model)
    answers = post_all(app, [{"features": [row]} for row in ROWS[:4]])
    assert [a.status_code for a in answers] == [200] * 4, f"every request should be served; got {answers}"
    assert model.sizes == [2, 2], (
        f"MAX_BATCH_SIZE={batch_size!r} is the whole number 2 (with MAX_QUEUE='10.0' and CACHE_SIZE=8.0, whole "
        f"numbers too): 4 concurrent requests should make two calls of 2 rows; calls had {model.sizes}")


@pytest.mark.parametrize("wait_ms", ["2.5", 0.5, np.float32(0.5)])
def test_max_wait_ms_may_be_a_fraction(make_app, counting_model, reference_model, wait_ms):
    app = make_app({"MAX_WAIT_MS": wait_ms}, model=counting_model())
    answer = post(app, {"features": [ROWS[0]]})
    assert answer.status_code == 200 and answer.get_json()["predictions"] == expected(reference_model, [ROWS[0]]), (
        f"MAX_WAIT_MS={wait_ms!r} is a number of milliseconds >= 0 (not necessarily whole) and should be accepted")


def test_empty_settings_mean_the_defaults(make_app, counting_model, monkeypatch):
    for name in ("MODEL_VERSION", "MAX_BATCH_SIZE", "MAX_WAIT_MS", "MAX_QUEUE", "RATE_LIMIT", "RATE_BURST"):
        monkeypatch.setenv(name, "")
    model = counting_model()
    app = make_app({"CACHE_SIZE": ""}, model=model)
    version = app.test_client().get("/health").get_json()["model_version"]
    assert isinstance(version, str) and version, f"an empty MODEL_VERSION means the default (non-empty), got {version!r}"
    answers = [post(app, {"features": [ROWS[0]]}).status_code for _ in range(3)]
    assert answers == [200] * 3, f"empty settings mean the defaults (no rate limit); got {answers}"
    assert len(model.calls) == 1, "an empty CACHE_SIZE means the default cache, which answers repeats"


def test_the_app_keeps_its_batcher_in_extensions_and_closing_it_stops_the_worker(make_app, counting_model):
    before = set(threading.enumerate())
    app = make_app(model=counting_model())
    started = set(threading.enumerate()) - before
    batcher = app.extensions["batcher"]
    assert hasattr(batcher, "submit") and hasattr(batcher, "close"), (
        "app.extensions['batcher'] should be the app's MicroBatcher")
    batcher.close()
    deadline = time.monotonic() + 10
    for thread in started:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not [t for t in started if t.is_alive()], "closing the app's batcher should stop its worker thread"


# --- the cache -----------------------------------------------------------------------------------------


def test_a_repeated_request_is_answered_from_the_cache(make_app, counting_model, reference_model):
    model = counting_model()
    app = make_app({"MAX_WAIT_MS": 0}, model=model)
    first = post(app, {"features": ROWS[:2]})
    again = post(app, {"features": ROWS[:2]})
    assert again.status_code == 200 and again.get_json() == first.get_json(), "a cached answer is the same answer"
    assert len(model.calls) == 1, f"the same rows twice should call the model once; it was called {len(model.calls)} times"
    post(app, {"features": ROWS[2:4]})
    assert len(model.calls) == 2, "different rows are not in the cache and need the model"


def test_the_cache_key_is_the_parsed_rows(make_app, counting_model):
    model = counting_model()
    app = make_app({"MAX_WAIT_MS": 0}, model=model)
    post(app, {"features": [1, 2, 3, 4]})
    post(app, b'{"features": [[1.0, 2.0, 3.0, 4.0]]}')
    post(app, b'{ "features" : [[1, 2.0, 3, 4e0]] }')
    assert len(model.calls) == 1, (
        "[1, 2, 3, 4], [[1.0, 2.0, 3.0, 4.0]] and [[1, 2.0, 3, 4e0]] are the same rows; only the first should call "
        f"the model, it was called {len(model.calls)} times")
    post(app, {"features": [1, 2, 4, 3]})
    post(app, {"features": [[1, 2, 3, 4], [1, 2, 3, 4]]})
    assert len(model.calls) == 3, "other rows, or the same row twice, are other requests"


def test_rows_that_differ_in_the_seventh_decimal_are_other_requests(make_app, counting_model, reference_model):
    model = counting_model()
    app = make_app({"MAX_WAIT_MS": 0}, model=model)
    row, near = [1.0, 2.0, 3.0, 4.0000001], [1.0, 2.0, 3.0, 4.0000002]
    post(app, {"features": [row]})
    answer = post(app, {"features": [near]})
    assert len(model.calls) == 2, (
        f"{row} and {near} are other rows: the cache matches exactly (no rounding of the key), so the model "
        f"should be called for both; it was called {len(model.calls)} times")
    assert answer.get_json()["predictions"] == expected(reference_model, [near]), "the second row gets its own answer"


def test_rows_that_differ_only_in_their_last_bit_are_other_requests(make_app):
    model = SumModel()
    app = make_app({"MAX_WAIT_MS": 0}, model=model)
    row, near = [0.1, 0.0, 0.0, 0.0], [math.nextafter(0.1, 1.0), 0.0, 0.0, 0.0]  # two neighbouring floats
    answers = [post(app, {"features": [r]}).get_json()["predictions"] for r in (row, near)]
    assert model.calls == [1, 1] and answers == [[0.1], [near[0]]], (
        f"{row} and {near} are other rows: the cache matches the parsed floats exactly (no rounding to any number "
        f"of decimals), so each should reach the model and get its own sum; got {answers} after model calls "
        f"{model.calls}")


def test_rows_whose_hashes_collide_are_other_requests(make_app):
    # In CPython hash(-1.0) == hash(-2.0), so these two rows' tuples have the same hash.
    model = SumModel()
    app = make_app({"MAX_WAIT_MS": 0}, model=model)
    answers = [post(app, {"features": [[value, 0, 0, 0]]}).get_json()["predictions"] for value in (-1, -2)]
    assert answers == [[-1.0], [-2.0]] and model.calls == [1, 1], (
        "[-1, 0, 0, 0] and [-2, 0, 0, 0] are other rows, though their tuples hash alike: key the cache by the rows "
        f"themselves (a dict compares keys on equal hashes), not by hash(rows); got {answers} after model calls "
        f"{model.calls}")


def test_the_same_rows_in_another_order_are_another_request(make_app, counting_model, reference_model):
    model = counting_model()
    app = make_app({"MAX_WAIT_MS": 0}, model=model)
    rows = ROWS[10:13]
    swapped = [rows[2], rows[0], rows[1]]
    first = post(app, {"features": rows})
    second = post(app, {"features": swapped})
    assert len(model.calls) == 2, (
        "the same rows in another order are another request (the key keeps the rows' order): the model should be "
        f"called for both; it was called {len(model.calls)} times")
    assert second.get_json()["predictions"] == expected(reference_model, swapped), (
        "the answer should hold one prediction per row, in the order of this request's rows")
    assert first.get_json()["predictions"] == expected(reference_model, rows), "and the first request its own order"


def test_the_servers_threads_share_one_cache(make_app, counting_model):
    model = counting_model()
    app = make_app({"MAX_WAIT_MS": 0}, model=model)
    with ThreadPoolExecutor(max_workers=1) as pool:  # one server thread answers first ...
        first = pool.submit(post, app, {"features": [ROWS[30]]}).result(timeout=30)
    again = post(app, {"features": [ROWS[30]]})  # ... and another one gets the same request
    assert first.status_code == 200 and again.status_code == 200, "both requests should be served"
    assert len(model.calls) == 1 and again.get_json() == first.get_json(), (
        "the server's threads share the cache (not one cache per thread, which gunicorn's 32 threads would each "
        f"fill on their own): the same rows from another thread should be a cache hit; the model was called "
        f"{len(model.calls)} times")


def test_cache_size_counts_answers_not_rows(make_app, counting_model):
    model = counting_model()
    app = make_app({"MAX_WAIT_MS": 0, "CACHE_SIZE": 1}, model=model)
    body = {"features": ROWS[40:43]}
    answers = [post(app, body) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], "both requests should be served"
    assert len(model.calls) == 1, (
        "CACHE_SIZE counts answers, not rows: with CACHE_SIZE=1 the answer to one request of 3 rows is kept, so "
        f"the same request again is a cache hit; the model was called {len(model.calls)} times")


def test_the_cache_evicts_the_least_recently_used_answer(make_app, counting_model):
    model = counting_model()
    app = make_app({"MAX_WAIT_MS": 0, "CACHE_SIZE": 2}, model=model)
    a, b, c = ({"features": [row]} for row in ROWS[:3])
    for body in (a, b, a, c):  # a is used again before c arrives, so b is the least recently used
        post(app, body)
    assert len(model.calls) == 3, "a, b, a, c: the second a is a cache hit"
    post(app, a)
    assert len(model.calls) == 3, "a was used recently and should still be cached"
    post(app, b)
    assert len(model.calls) == 4, "b was the least recently used and should have been evicted by c"


@pytest.mark.parametrize("where", ["config", "environment", "config over the environment"])
def test_cache_size_zero_turns_the_cache_off(make_app, counting_model, monkeypatch, where):
    model = counting_model()
    config = {"MAX_WAIT_MS": 0}
    if where != "environment":
        config["CACHE_SIZE"] = 0
    if where != "config":
        monkeypatch.setenv("CACHE_SIZE", "0" if where == "environment" else "8")
    app = make_app(config, model=model)
    for _ in range(3):
        post(app, {"features": [ROWS[0]]})
    assert len(model.calls) == 3, (
        f"with CACHE_SIZE=0 from the {where} every request needs the model (a key in config wins, also when its "
        f"value is 0); the model was called {len(model.calls)} times for 3 requests")


def test_concurrent_requests_share_the_cache_safely(make_app, impl_dir):
    """Every thread gives up the CPU before each line of your code runs, so a cache that finds a key on one line
    and moves or reads it on the next races with another request evicting it, unless a lock holds them together."""
    bodies = [{"features": [[i % 3, 1, 1, 1]]} for i in range(48)]
    for round_ in range(1, 6):  # five fresh caches: five chances for a lookup to race an eviction
        app = make_app({"MAX_WAIT_MS": 0, "CACHE_SIZE": 1}, model=SumModel())
        with switching_threads(impl_dir):
            answers = post_all(app, bodies, workers=8)
        codes = [a.status_code for a in answers]
        assert codes == [200] * len(bodies), (
            f"round {round_}: 48 concurrent requests over 3 rows with CACHE_SIZE=1 (every miss evicts) should all get "
            f"200; got codes {sorted(set(codes))} (the server's threads share the cache: look up, refresh, insert and "
            "evict under one lock)")
        wrong = [(body, a.get_json()) for body, a in zip(bodies, answers)
                 if a.get_json()["predictions"] != [sum(body["features"][0])]]
        assert not wrong, (
            f"round {round_}: every request should get its own row's answer, from the cache or the model; wrong: "
            f"{wrong[:3]}")


def test_cache_size_defaults_to_1024(make_app):
    model = SumModel()
    app = make_app({"MAX_WAIT_MS": 0}, model=model)
    client = app.test_client()
    for i in range(1025):
        client.post("/predict", json={"features": [[i, 0, 0, 0]]})
    assert len(model.calls) == 1025, "1025 different requests should each call the model"
    client.post("/predict", json={"features": [[1, 0, 0, 0]]})
    assert len(model.calls) == 1025, "the 1024 most recent answers should be cached by default"
    client.post("/predict", json={"features": [[0, 0, 0, 0]]})
    assert len(model.calls) == 1026, "the cache holds 1024 answers by default; the oldest should have been evicted"


def test_each_app_has_its_own_cache(make_app, counting_model):
    first_model, second_model = counting_model(), SumModel()
    first = make_app({"MAX_WAIT_MS": 0}, model=first_model)
    second = make_app({"MAX_WAIT_MS": 0}, model=second_model)
    post(first, {"features": [[1, 2, 3, 4.5]]})
    answer = post(second, {"features": [[1, 2, 3, 4.5]]})
    assert second_model.calls == [1] and answer.get_json()["predictions"] == [10.5], (
        "an answer cached by one app must never answer a request to another app (it may serve another model): "
        f"the second app's model should be called and answer 10.5; got {answer.get_json()} after calls "
        f"{second_model.calls}")

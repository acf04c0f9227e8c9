"""Task 4: the server's Prometheus metrics, scraped and parsed like Prometheus would."""

import io
import json
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from model_server import create_app

pytestmark = pytest.mark.task(taskno=4)

ROW = [5.1, 3.5, 1.4, 0.2]


def wait_ready(client, seconds: float = 10.0) -> None:
    """Loading may happen in the background (/predict answers 503 until then); wait for /ready."""
    deadline = time.monotonic() + seconds
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, f"GET /ready should answer 200 once the model is loaded (waited {seconds} s)"
        time.sleep(0.05)


@pytest.fixture
def app(model_file):
    app = create_app({"MODEL_PATH": str(model_file), "MODEL_VERSION": "metrics-1"})
    wait_ready(app.test_client())
    return app


def scrape(client) -> dict[str, list]:
    """Samples by name from GET /metrics, parsed by prometheus_client's own parser."""
    answer = client.get("/metrics")
    assert answer.status_code == 200, f"GET /metrics should answer 200, got {answer.status_code}"
    assert answer.content_type.startswith("text/plain"), (
        f"/metrics should be Prometheus text format (text/plain), got {answer.content_type!r}"
    )
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples, name, **labels) -> float:
    matching = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(matching)


def send_traffic(client):
    for _ in range(2):
        assert client.post("/predict", json={"features": [ROW]}).status_code == 200, "a good row should answer 200"
    assert client.post("/predict", data="not json", content_type="application/json").status_code == 400, (
        "malformed JSON should answer 400"
    )
    assert client.get("/health").status_code == 200, "/health should answer 200"


def test_requests_are_counted_by_route_and_status(app):
    client = app.test_client()
    before = scrape(client)  # the fixture already asked /ready while the model loaded
    send_traffic(client)
    for _ in range(2):
        assert client.get("/ready").status_code == 200, "/ready should answer 200 once the model is loaded"
    samples = scrape(client)
    assert value(samples, "model_requests_total", endpoint="/predict", status="200") == 2, (
        "two good /predict calls should count 2 under endpoint='/predict', status='200'"
    )
    assert value(samples, "model_requests_total", endpoint="/predict", status="400") == 1, (
        "one malformed /predict call should count 1 under status='400'"
    )
    assert value(samples, "model_requests_total", endpoint="/health", status="200") == 1, (
        "one /health call should count 1 under endpoint='/health'"
    )
    ready = value(samples, "model_requests_total", endpoint="/ready", status="200") - value(
        before, "model_requests_total", endpoint="/ready", status="200")
    assert ready == 2, (
        f"two /ready calls should count 2 under endpoint='/ready', status='200', got {ready}: the readiness probe is "
        "an answered request like any other; only /metrics itself goes uncounted")
    timed = value(samples, "model_request_latency_seconds_count", endpoint="/ready") - value(
        before, "model_request_latency_seconds_count", endpoint="/ready")
    assert timed == 2, f"two /ready calls should be 2 latency observations under endpoint='/ready', got {timed}"


def test_latency_histogram_observes_every_answered_request(app):
    client = app.test_client()
    started = time.perf_counter()
    send_traffic(client)
    elapsed = time.perf_counter() - started
    samples = scrape(client)
    count = value(samples, "model_request_latency_seconds_count", endpoint="/predict")
    total = value(samples, "model_request_latency_seconds_sum", endpoint="/predict")
    assert count == 3, f"3 calls to /predict (good and bad) should be 3 observations, got {count}"
    health = value(samples, "model_request_latency_seconds_count", endpoint="/health")
    assert health == 1, (
        f"the one /health call should be 1 observation under endpoint='/health', got {health}: the histogram "
        "times every answered request, not only the model's")
    assert 0 < total < 30, f"the latency sum should be a small positive number of seconds, got {total}"
    assert total <= elapsed + 0.05, (
        f"the three /predict calls took {elapsed:.4f} s in all as the test measured them, but the histogram sums "
        f"{total} for them: observe seconds (not milliseconds)")
    infinite = [s for s in samples.get("model_request_latency_seconds_bucket", [])
                if s.labels.get("endpoint") == "/predict" and s.labels.get("le") == "+Inf"]
    assert infinite and infinite[0].value == 3, "the +Inf bucket of a histogram holds every observation"


def test_unknown_paths_share_one_label_instead_of_one_series_each(app):
    client = app.test_client()
    for path in ("/admin", "/wp-login.php", "/.env"):
        assert client.get(path).status_code == 404, f"{path} is not a route and should answer 404"
    samples = scrape(client)
    endpoints = {s.labels.get("endpoint") for s in samples.get("model_requests_total", [])}
    assert not endpoints & {"/admin", "/wp-login.php", "/.env"}, (
        f"raw paths must not become label values (one time series per scanned URL); got {sorted(endpoints)}"
    )
    assert value(samples, "model_requests_total", endpoint="unmatched", status="404") == 3, (
        "the three unknown paths should count 3 under endpoint='unmatched', status='404'"
    )
    assert value(samples, "model_request_latency_seconds_count", endpoint="unmatched") == 3, (
        "the three unknown paths should be 3 latency observations under endpoint='unmatched'"
    )
    counter_labels = {frozenset(s.labels) for s in samples.get("model_requests_total", [])}
    assert counter_labels == {frozenset({"endpoint", "status"})}, (
        f"model_requests_total should be labelled endpoint and status only, got label sets "
        f"{sorted(sorted(labels) for labels in counter_labels)}: any other label (the raw path, say) still makes "
        "a time series per scanned URL")
    unmatched = [s for s in samples.get("model_requests_total", []) if s.labels.get("endpoint") == "unmatched"]
    assert len(unmatched) == 1, (
        f"three unknown paths answered 404 should be one time series, got {len(unmatched)}: {unmatched}")
    histogram_labels = {frozenset(s.labels) - {"le"} for s in samples.get("model_request_latency_seconds_count", [])}
    assert histogram_labels == {frozenset({"endpoint"})}, (
        f"model_request_latency_seconds should be labelled endpoint only, got label sets "
        f"{sorted(sorted(labels) for labels in histogram_labels)}")


def test_a_method_its_route_does_not_accept_is_counted_as_unmatched(app):
    client = app.test_client()
    for method, path in (("GET", "/predict"), ("POST", "/health")):
        answer = client.open(path, method=method)
        assert answer.status_code == 405, (
            f"{method} {path} is a method its route does not accept and should answer 405, got {answer.status_code}")
    samples = scrape(client)
    counted = value(samples, "model_requests_total", endpoint="unmatched", status="405")
    labels = sorted({(s.labels.get("endpoint"), s.labels.get("status")) for s in samples.get("model_requests_total", [])
                     if s.labels.get("status") == "405"})
    assert counted == 2, (
        f"GET /predict and POST /health answered 405 should count 2 under endpoint='unmatched', status='405', got "
        f"{counted} (405s counted under {labels}): no route takes them, and Flask's url_rule is None for a 405 too")
    assert value(samples, "model_request_latency_seconds_count", endpoint="unmatched") == 2, (
        "the two 405 answers should be 2 latency observations under endpoint='unmatched'")


def test_a_body_refused_as_too_large_is_counted_under_its_route(app):
    client = app.test_client()
    answer = client.post("/predict", data=b"[" * (1024 * 1024 + 1), content_type="application/json")
    assert answer.status_code == 413, f"a body over 1 MiB should be refused with 413, got {answer.status_code}"
    samples = scrape(client)
    counted = value(samples, "model_requests_total", endpoint="/predict", status="413")
    assert counted == 1, (
        f"the /predict refused with 413 counts {counted} under endpoint='/predict', status='413': a refusal is an "
        "answered request too; count it wherever you refuse it (a body limit in a middleware included)")
    assert value(samples, "model_request_latency_seconds_count", endpoint="/predict") == 1, (
        "the /predict refused with 413 should be one latency observation under endpoint='/predict'")


def test_scraping_does_not_count_itself(app):
    client = app.test_client()
    scrape(client)
    samples = scrape(client)
    assert value(samples, "model_requests_total", endpoint="/metrics") == 0, "GET /metrics should not count itself"
    observed = value(samples, "model_request_latency_seconds_count", endpoint="/metrics")
    assert observed == 0, (
        f"GET /metrics should not time itself either: the latency histogram holds {observed} observations under "
        "endpoint='/metrics'; both metrics leave out /metrics itself")


def test_scrapes_are_counted_under_no_label_at_all(app):
    client = app.test_client()

    def totals(samples):
        return (sum(s.value for s in samples.get("model_requests_total", [])),
                sum(s.value for s in samples.get("model_request_latency_seconds_count", [])))

    before = totals(scrape(client))
    for _ in range(3):
        scrape(client)
    after = totals(scrape(client))
    assert after[0] == before[0], (
        f"four scrapes of /metrics and nothing else moved model_requests_total from {before[0]} to {after[0]} over "
        "all its labels: GET /metrics goes uncounted under every label, `unmatched` included (skip it before "
        "choosing the label)")
    assert after[1] == before[1], (
        f"four scrapes of /metrics and nothing else moved the latency histogram's count from {before[1]} to "
        f"{after[1]} over all its labels: GET /metrics is not timed under any label either")


def test_only_the_metrics_route_itself_goes_uncounted(app):
    client = app.test_client()
    for path in ("/metrics/", "/metrics.json", "/metricsz"):
        assert client.get(path).status_code == 404, f"{path} is not a route and should answer 404"
    samples = scrape(client)
    assert value(samples, "model_requests_total", endpoint="unmatched", status="404") == 3, (
        "/metrics/, /metrics.json and /metricsz are unknown paths answered 404 and should count 3 under "
        "endpoint='unmatched': only /metrics itself goes uncounted, not every path that starts like it")


class HeldBody(io.RawIOBase):
    """A request body that arrives only when the test lets it (a slow client)."""

    def __init__(self, data: bytes):
        self.data, self.reading, self.release = data, threading.Event(), threading.Event()

    def readable(self):
        return True

    def readinto(self, buffer):
        self.reading.set()
        if not self.release.wait(timeout=20):
            return 0
        count = min(len(buffer), len(self.data))
        buffer[:count] = self.data[:count]
        self.data = self.data[count:]
        return count


def test_each_request_is_timed_from_its_own_start(app):
    # gunicorn's threads serve requests side by side: a request that starts while another
    # is in flight must not change the other's measured latency.
    body = HeldBody(json.dumps({"features": [ROW]}).encode())
    answers = []
    slow = threading.Thread(target=lambda: answers.append(app.test_client().post(
        "/predict", content_type="application/json",
        environ_overrides={"wsgi.input": body, "CONTENT_LENGTH": str(len(body.data))})))
    slow.start()
    try:
        assert body.reading.wait(timeout=10), "the server should start reading the /predict body"
        time.sleep(0.4)
        assert app.test_client().get("/health").status_code == 200, "/health should answer 200"
        time.sleep(0.4)
    finally:
        body.release.set()
        slow.join(timeout=20)
    assert answers and answers[0].status_code == 200, "the held /predict should answer 200 once its body arrives"
    total = value(scrape(app.test_client()), "model_request_latency_seconds_sum", endpoint="/predict")
    assert total >= 0.7, (
        f"a /predict whose body took over 0.8 s to arrive was observed as {total:.3f} s: time each request from "
        "its own start (flask.g, or a local in a middleware), not from one value shared by the whole app")


def test_the_request_count_is_a_counter_and_the_latency_a_histogram(app):
    client = app.test_client()
    send_traffic(client)
    answer = client.get("/metrics")
    assert answer.status_code == 200, f"GET /metrics should answer 200, got {answer.status_code}"
    types = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            types.setdefault(sample.name, family.type)
    assert types.get("model_requests_total") == "counter", (
        f"model_requests_total should be a counter (# TYPE model_requests counter), got a {types.get('model_requests_total')}: "
        "Prometheus' rate() and increase() are meant for counters, and a gauge tells it the value may go down")
    assert types.get("model_request_latency_seconds_count") == "histogram", (
        f"model_request_latency_seconds should be a histogram, got a {types.get('model_request_latency_seconds_count')}")


def test_each_app_has_its_own_metrics(model_file):
    first = create_app({"MODEL_PATH": str(model_file)}).test_client()
    second = create_app({"MODEL_PATH": str(model_file)}).test_client()
    first.post("/predict", data=json.dumps({"features": [ROW]}), content_type="application/json")
    assert value(scrape(second), "model_requests_total", endpoint="/predict") == 0, (
        "a second app must start from zero: give each app its own CollectorRegistry, not the global one"
    )


def test_an_app_keeps_reporting_its_own_requests_after_another_is_built(model_file):
    first = create_app({"MODEL_PATH": str(model_file)}).test_client()
    create_app({"MODEL_PATH": str(model_file)})
    for _ in range(2):
        assert first.get("/health").status_code == 200, "/health should answer 200"
    counted = value(scrape(first), "model_requests_total", endpoint="/health")
    assert counted == 2, (
        f"the first app answered /health twice after a second app was built, but its /metrics counts {counted}: "
        "each app keeps its own registry and metrics for as long as it lives; a second create_app must not take "
        "them over (no shared global registry whose collectors are swapped for the newest app's)")

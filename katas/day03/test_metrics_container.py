"""Task 4, for real: the metrics of your running container count every request.

Docker tier. gunicorn can run several worker processes; each one has its own memory,
so a counter in one process knows nothing of the requests another served, and a
scrape reports whichever process answered it. Prometheus would then see counts that
jump up and down. The test sends requests in parallel (so several workers would share
them) and scrapes a few times, round after round for several seconds (a worker that is
still loading its model serves nothing yet): every scrape must report them all.
"""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.task(taskno=4), pytest.mark.docker, pytest.mark.timeout(660)]

ROW = [0.5, -1.0, 2.0, 0.1]
ROUNDS = 12
REQUESTS = 8  # per round, sent in parallel
SCRAPES = 3   # per round
PAUSE_S = 0.5


def predicted_ok(url: str) -> float:
    """model_requests_total{endpoint="/predict", status="200"} in one scrape."""
    answer = requests.get(url + "/metrics", timeout=10)
    assert answer.status_code == 200, f"GET /metrics on the container should answer 200, got {answer.status_code}"
    return sum(sample.value
               for family in text_string_to_metric_families(answer.text)
               for sample in family.samples
               if sample.name == "model_requests_total"
               and sample.labels.get("endpoint") == "/predict" and sample.labels.get("status") == "200")


def test_every_scrape_of_the_container_counts_every_request(server):
    def predict(_):
        # A new connection per request, as separate clients would open them; again while it
        # answers 503 (a worker still loading its model in the background).
        deadline = time.monotonic() + 60
        while True:
            code = requests.post(server.url + "/predict", json={"features": [ROW]}, timeout=10).status_code
            if code != 503 or time.monotonic() > deadline:
                return code
            time.sleep(0.2)

    sent = 0
    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        for _ in range(ROUNDS):
            codes = list(pool.map(predict, range(REQUESTS)))
            assert codes == [200] * REQUESTS, f"every /predict with a good row should answer 200, got {sorted(set(codes))}"
            sent += REQUESTS
            counts = [predicted_ok(server.url) for _ in range(SCRAPES)]
            assert counts == [sent] * SCRAPES, (
                f"after {sent} good /predict calls, scrapes of /metrics reported {counts}: each worker process "
                "counts only what it served. Run one gunicorn worker per container (--threads for concurrency; "
                "scale with more containers) or use prometheus_client's multiprocess mode")
            time.sleep(PAUSE_S)

"""Task 6, docker tier: a real canary rollout between two containers of the stand-in server.

v1 is healthy; one v2 answers every /predict with a 500, another fails every /predict with a
503 (and one time in ten a 500), a third is healthy.
Each container runs the stand-in server with a `/metrics` page: the day-03 counter
`model_requests_total{endpoint, status}`, counting every answer it gives. Your
`CanaryRouter` sits in front.

- The first two tests let your `CanaryController` decide, with the router's
  `error_counts` as its metric source and a fake clock, so its 10-minute steps take no time.
- The last one (also the **prometheus** tier) lets your task-5 rules decide: a real
  Prometheus scrapes the containers and evaluates your `slo_rules.yml` twice a second, and
  the canary is rolled back when your `ErrorBudgetFastBurn` alert fires, not before.
"""

import re
import time
from datetime import datetime

import pytest
import requests
import yaml

from canary import CanaryController
from mlops_katas.fakes import FakeClock
from mlops_katas.infra.prometheus import promtool
from router import CanaryRouter

pytestmark = [pytest.mark.task(taskno=6), pytest.mark.docker, pytest.mark.timeout(180)]

ROW = {"features": [[5.1, 3.5, 1.4, 0.2]]}
BAD_ROW = {"rows": [[5.1, 3.5, 1.4, 0.2]]}  # not the day-03 contract: a 400, the client's fault
USERS = [f"user-{i}" for i in range(300)]
FAST, SLOW = "ErrorBudgetFastBurn", "ErrorBudgetSlowBurn"
# The stand-in image, started with a /metrics page (the day-03 counter, in Prometheus' text
# format) and a /predict that answers 400 to a body without "features". PREDICT_FAILS makes it
# a v2 whose every valid /predict fails, and the counter counts those answers: "500", its model
# raises every time; "503", its model is mostly unavailable (503), and raises (500) one time in ten.
STANDIN_WITH_METRICS = r"""
import itertools, json, os, threading
import app

FAILS = os.environ.get("PREDICT_FAILS", "")
counts, lock, failures = {}, threading.Lock(), itertools.count(1)
answer, get = app.Handler._answer, app.Handler.do_GET


def counted_answer(self, status, body):
    endpoint = self.path if self.path in ("/predict", "/health", "/ready") else "other"
    with lock:
        counts[endpoint, status] = counts.get((endpoint, status), 0) + 1
    answer(self, status, body)


def do_GET(self):
    if self.path != "/metrics":
        return get(self)
    with lock:
        text = "# TYPE model_requests_total counter\n" + "".join(
            f'model_requests_total{{endpoint="{e}",status="{s}"}} {n}\n' for (e, s), n in sorted(counts.items()))
    data = text.encode()
    self.send_response(200)
    self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
    self.send_header("Content-Length", str(len(data)))
    self.end_headers()
    self.wfile.write(data)


def do_POST(self):
    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
    if self.path != "/predict":
        return self._answer(404, {"error": f"no route {self.path}"})
    try:
        rows = json.loads(body)["features"]
        if not isinstance(rows, list) or not rows:
            raise ValueError("no rows")
    except Exception:
        return self._answer(400, {"error": "the body must be {\"features\": [[...], ...]}"})
    if FAILS == "500" or (FAILS == "503" and next(failures) % 10 == 0):
        return self._answer(500, {"error": "model v2 raised"})
    if FAILS == "503":
        return self._answer(503, {"error": "model v2 unavailable"})
    self._answer(200, {"predictions": [0], "model_version": app.VERSION})


app.Handler._answer = counted_answer
app.Handler.do_GET = do_GET
app.Handler.do_POST = do_POST
app.main()
"""


@pytest.fixture(scope="module")
def learner_code():
    """Your router and controller, constructed once before any container starts (a stub fails here, cheaply)."""
    CanaryRouter("http://127.0.0.1:9", "http://127.0.0.1:9")
    CanaryController(lambda percent: None, lambda window_s: (0, 0), clock=FakeClock())


def standin(docker_run_shared, standin_image, version, fails=""):
    """One container per kind for the whole module (started on first use, removed at its end)."""
    env = {"APP_VERSION": version, **({"PREDICT_FAILS": fails} if fails else {})}
    return docker_run_shared(standin_image, env=env, command=["python3", "-c", STANDIN_WITH_METRICS])


@pytest.fixture
def v1(learner_code, docker_run_shared, standin_image):
    return standin(docker_run_shared, standin_image, "v1")


@pytest.fixture
def v2_good(learner_code, docker_run_shared, standin_image):
    return standin(docker_run_shared, standin_image, "v2")


@pytest.fixture
def v2_broken(learner_code, docker_run_shared, standin_image):
    """Every /predict answers 500."""
    return standin(docker_run_shared, standin_image, "v2", fails="500")


@pytest.fixture
def v2_unavailable(learner_code, docker_run_shared, standin_image):
    """Every /predict fails: 503, and one time in ten 500."""
    return standin(docker_run_shared, standin_image, "v2", fails="503")


def predict_requests(container) -> int:
    """How many /predict requests the container has served, read from its own access log."""
    return container.container.logs().decode(errors="replace").count('"POST /predict')


def settled_count(container, at_least: int = 0, wait_s: float = 10.0) -> int:
    """The access-log count once it reaches `at_least` and stops moving (logs arrive a moment late)."""
    deadline = time.monotonic() + wait_s
    count = predict_requests(container)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        again = predict_requests(container)
        if again == count and count >= at_least:
            break
        count = again
    return count


def test_a_burning_canary_is_rolled_back_for_real(v1, v2_broken):
    clock = FakeClock()
    router = CanaryRouter(v1.url, v2_broken.url, salt="release-7", clock=clock)
    controller = CanaryController(router.set_canary_percent, router.error_counts, clock=clock, min_requests=5)
    controller.start()
    served_before = settled_count(v2_broken)
    answers = {u: router.predict(u, ROW) for u in USERS}
    on_v1 = {u: a for u, a in answers.items() if router.variant_for(u) == "stable"}
    on_v2 = [u for u in USERS if router.variant_for(u) == "canary"]
    assert on_v2, "at 5 % some of 300 users should see the canary"
    bad = {u: a for u, a in on_v1.items() if a != (200, {"predictions": [0], "model_version": "v1"})}
    assert not bad, f"users routed to v1 must never see an error or v2's answer: {dict(list(bad.items())[:3])}"
    after_first_round = settled_count(v2_broken, served_before + len(on_v2))
    assert after_first_round - served_before >= len(on_v2), "the canary's users really reached the v2 container"
    clock.advance(30)
    assert controller.tick() == "rolled_back", (
        f"every canary answer failed ({router.error_counts(300)} errors/total in 5 min): the controller must roll back")
    again = {u: router.predict(u, ROW) for u in USERS}
    wrong = {u: a for u, a in again.items() if a != (200, {"predictions": [0], "model_version": "v1"})}
    assert not wrong, f"after the rollback every user is served by v1 without error: {dict(list(wrong.items())[:3])}"
    assert settled_count(v2_broken) == after_first_round, "after the rollback the v2 container gets no request at all"


def test_a_healthy_canary_is_ramped_to_everyone(v1, v2_good):
    clock = FakeClock()
    router = CanaryRouter(v1.url, v2_good.url, salt="release-8", clock=clock)
    controller = CanaryController(router.set_canary_percent, router.error_counts, clock=clock, min_requests=5,
                                  step_duration_s=300)
    controller.start()
    seen_v2: set[str] = set()
    for _ in range(6):
        for u in USERS[:120]:
            status, body = router.predict(u, ROW)
            assert status == 200, f"a healthy rollout answers every request, {u} got {(status, body)}"
            if body["model_version"] == "v2":
                seen_v2.add(u)
            else:
                assert u not in seen_v2, f"{u} saw v2 and then v1 again: a ramp must keep canary users on the canary"
        clock.advance(300)
        controller.tick()
    assert controller.state == "promoted", f"a healthy canary is promoted after its steps, state is {controller.state!r}"
    final = {router.predict(u, ROW)[1]["model_version"] for u in USERS[:50]}
    assert final == {"v2"}, f"once promoted everyone is served by v2, got {final}"


# --- the same rollback, decided by your Prometheus rules ----------------------------------------

V1_OK = (200, {"predictions": [0], "model_version": "v1"})
V2_OK = (200, {"predictions": [0], "model_version": "v2"})
EVALUATION_S = 0.5
PROMETHEUS_CONFIG = """
global:
  scrape_interval: 500ms
  scrape_timeout: 500ms
  evaluation_interval: 500ms
rule_files: [slo_rules.yml]
scrape_configs:
  - job_name: model-server
    static_configs:
      - targets: {targets}
"""


def share_5xx(window: str) -> str:
    """The /predict 5xx share over `window`, as the test computes it (the README's definition)."""
    return (f'sum(rate(model_requests_total{{endpoint="/predict", status=~"5.."}}[{window}]))'
            f' / sum(rate(model_requests_total{{endpoint="/predict"}}[{window}]))')


@pytest.fixture
def live_rules(learner_code, learner_file):
    """Your slo_rules.yml as the test's Prometheus loads it: checked by promtool, then without `for:` and
    without a group `interval:`, so that it is evaluated twice a second and an alert fires as soon as its
    expression holds (the test has seconds of traffic, not minutes; task 5's tests check the rest)."""
    path = learner_file("slo_rules.yml")
    checked = promtool("check", "rules", path)
    assert checked.returncode == 0, f"promtool check rules rejects slo_rules.yml:\n{checked.stdout}{checked.stderr}"
    doc = yaml.safe_load(path.read_text())
    alerts = []
    for group in doc.get("groups") or []:
        group.pop("interval", None)
        for rule in group.get("rules") or []:
            if "alert" in rule:
                rule.pop("for", None)
                rule.pop("keep_firing_for", None)
                alerts.append(rule["alert"])
    assert FAST in alerts, f"slo_rules.yml should hold an alerting rule named {FAST}, it has {alerts}"
    return yaml.safe_dump(doc)


def prometheus_time(stamp: str) -> float:
    """Seconds since the epoch from Prometheus' RFC 3339 time with up to nine fractional digits."""
    found = re.fullmatch(r"(.{19})(\.\d+)?(Z|[+-]\d\d:\d\d)", stamp)
    assert found, f"Prometheus gave an evaluation time the test cannot read: {stamp!r}"
    whole, fraction, zone = found.groups()
    return datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp() + float(fraction or 0)


class Watch:
    """Your rules as a running Prometheus evaluates them, read from its HTTP API."""

    def __init__(self, prometheus):
        self.url = prometheus.url
        self.first: float | None = None  # Prometheus' own times of the evaluations of the group holding
        self.last: float | None = None   # ErrorBudgetFastBurn, from the last start_counting() on
        self.counting = False
        self.rule_errors: dict[str, str] = {}

    def _data(self, path: str, **params):
        answer = requests.get(self.url + path, params=params, timeout=5)
        assert answer.status_code == 200, f"Prometheus answered {answer.status_code} on {path}: {answer.text[:500]}"
        return answer.json()["data"]

    def alert_states(self) -> dict[str, str]:
        """{alert name: inactive, pending or firing} for your alerting rules, as of their last evaluation."""
        states = {}
        for group in self._data("/api/v1/rules")["groups"]:
            for rule in group["rules"]:
                if rule.get("health") == "err":
                    self.rule_errors[rule["name"]] = rule.get("lastError", "")
                if rule.get("type") == "alerting":
                    states[rule["name"]] = rule.get("state", "inactive")
                    if rule["name"] == FAST and self.counting and not group["lastEvaluation"].startswith("0001-"):
                        self.last = prometheus_time(group["lastEvaluation"])
                        self.first = self.last if self.first is None else self.first
        return states

    def start_counting(self) -> None:
        self.counting, self.first, self.last = True, None, None

    def stop_counting(self) -> None:
        self.counting, self.first, self.last = False, None, None

    @property
    def cycles(self) -> int:
        """How many evaluations of your alerts Prometheus has made since start_counting()."""
        return 0 if self.first is None else 1 + round((self.last - self.first) / EVALUATION_S)

    def value(self, expr: str) -> float | None:
        found = self._data("/api/v1/query", query=expr)["result"]
        return float(found[0]["value"][1]) if found else None

    def report(self) -> str:
        ours = {window: self.value(share_5xx(window)) for window in ("5m", "1h")}
        yours = {name: self.value(name) for name in ("slo:predict_errors:ratio_rate5m", "slo:predict_errors:ratio_rate1h")}
        return (f"the /predict 5xx share as the test computes it: {ours}; your recording rules hold {yours}; "
                f"rules that failed to evaluate: {self.rule_errors or 'none'}")


def pick_users(router, canary: int, stable: int) -> tuple[list[str], list[str]]:
    """The first `canary` user ids your router sends to the canary and the first `stable` it sends to
    v1: each round of traffic has the same share on the canary, whatever hash your splitter uses."""
    picked, wanted = {"canary": [], "stable": []}, {"canary": canary, "stable": stable}
    for i in range(100_000):
        user = f"user-{i}"
        variant = router.variant_for(user)
        if variant in picked and len(picked[variant]) < wanted[variant]:
            picked[variant].append(user)
        if picked["canary"] and len(picked["canary"]) == canary and len(picked["stable"]) == stable:
            return picked["canary"], picked["stable"]
    pytest.fail(f"at 5 % the router should send some of 100,000 users to the canary, got {len(picked['canary'])}")


@pytest.mark.prometheus
@pytest.mark.timeout(240)
def test_your_fast_burn_alert_spares_a_healthy_canary_and_rolls_back_a_burning_one(
        live_rules, v1, v2_good, v2_unavailable, start_prometheus):
    """One Prometheus scrapes v1 and both v2s twice a second and evaluates your rules twice a second.
    First a healthy v2 takes 5 % of the traffic, 11 % of the requests being rejected with a 400 (the
    clients' fault): for ten evaluations nothing may page. Then a v2 whose every answer is a 503 or a
    500 takes 5 %: your ErrorBudgetFastBurn must fire, and firing is what rolls the canary back."""
    targets = [f"127.0.0.1:{c.port}" for c in (v1, v2_good, v2_unavailable)]
    prometheus = start_prometheus(PROMETHEUS_CONFIG.format(targets=targets), rule_files={"slo_rules.yml": live_rules})
    watch = Watch(prometheus)
    deadline = time.monotonic() + 150

    # 1. A healthy canary, and clients that send bad bodies: no page, no rollback.
    router = CanaryRouter(v1.url, v2_good.url, salt="release-10")
    router.set_canary_percent(5)
    canary_users, stable_users = pick_users(router, canary=5, stable=95)  # 5 % of every round on the canary
    careless = set(canary_users[:1] + stable_users[::10])  # 11 of 100 send {"rows": ...}: a 400
    expected = {user: (400 if user in careless else 200, "v2" if user in canary_users else "v1")
                for user in canary_users + stable_users}
    while watch.cycles < 10:
        for user, (status, version) in expected.items():
            got, body = router.predict(user, BAD_ROW if user in careless else ROW)
            assert got == status, f"{user} should get {status} from {version}, got {(got, body)}"
            assert status != 200 or body.get("model_version") == version, f"{user} should be served by {version}: {body}"
        paged = {name: state for name, state in watch.alert_states().items() if name in (FAST, SLOW) and state != "inactive"}
        assert not paged, (
            f"the canary is healthy (no 5xx at all; 11 % of /predict requests are 4xx, the clients' fault), yet your "
            f"rules page: {paged}, and the canary would be rolled back. {watch.report()}")
        seen = watch.value('count(sum by (instance) (rate(model_requests_total{endpoint="/predict", status="400"}[1m]) > 0))')
        if not watch.counting and (seen or 0) >= 2:
            watch.start_counting()  # both containers' 200s and 400s are in Prometheus: count evaluations from here
        if time.monotonic() > deadline:
            pytest.fail(f"Prometheus evaluated your rules only {watch.cycles} times with traffic in 150 s", pytrace=False)
    final = {user: router.predict(user, ROW) for user in canary_users}
    wrong = {user: answer for user, answer in final.items() if answer != V2_OK}
    assert not wrong, f"a healthy canary is not rolled back: its users are still served by v2, got {wrong}"

    # 2. A failing canary at 5 %: your alert fires, and the canary is rolled back.
    router = CanaryRouter(v1.url, v2_unavailable.url, salt="release-9")
    router.set_canary_percent(5)
    canary_users, stable_users = pick_users(router, canary=5, stable=95)
    watch.stop_counting()
    wrong_on_v1, canary_statuses = {}, []
    while True:
        for user in stable_users:
            answer = router.predict(user, ROW)
            if answer != V1_OK:
                wrong_on_v1[user] = answer
        canary_statuses += [router.predict(user, ROW)[0] for user in canary_users]
        if watch.alert_states().get(FAST) == "firing":
            router.set_canary_percent(0)  # the rollback, decided by your rule
            break
        # The healthy minutes are in every window too: count evaluations once the test's own 5m and 1h
        # 5xx shares are well above 14.4 x 0.001 (both reach 5 % as the failing traffic goes on).
        if not watch.counting and min(watch.value(share_5xx(w)) or 0 for w in ("5m", "1h")) > 0.025:
            watch.start_counting()
        if watch.cycles >= 10 or time.monotonic() > deadline:
            pytest.fail(f"5 % of /predict answers are now 5xx (a 50x burn of a 99.9 % SLO), and the 5m and 1h shares "
                        f"have been above 2.5 % for {watch.cycles} evaluations, yet {FAST} does not fire: "
                        f"{watch.report()}", pytrace=False)
    assert not wrong_on_v1, (
        f"users routed to v1 must never see an error or v2's answer: {dict(list(wrong_on_v1.items())[:3])}")
    assert canary_statuses and min(canary_statuses) >= 500, (
        f"the canary's users should have reached the failing v2 (5xx), got statuses {sorted(set(canary_statuses))}")
    served = settled_count(v2_unavailable)
    after = {user: router.predict(user, ROW) for user in canary_users + stable_users[:40]}
    wrong = {user: answer for user, answer in after.items() if answer != V1_OK}
    assert not wrong, f"after the rollback every user is served by v1 without error: {dict(list(wrong.items())[:3])}"
    assert settled_count(v2_unavailable) == served, "after the rollback the v2 container gets no request at all"

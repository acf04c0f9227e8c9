"""Task 6, docker tier: a real canary rollout between two containers of the stand-in server.

v1 is healthy; one v2 answers every /predict with a 500 (its model is broken), another is
healthy. Your `CanaryRouter` sits in front, your `CanaryController` ramps the canary with
the router's `error_counts` as its metric source. Time is a fake clock, so the controller's
10-minute steps take no time; the requests and the containers are real.
"""

import time

import pytest

from canary import CanaryController
from mlops_katas.fakes import FakeClock
from router import CanaryRouter

pytestmark = [pytest.mark.task(taskno=6), pytest.mark.docker, pytest.mark.timeout(180)]

ROW = {"features": [[5.1, 3.5, 1.4, 0.2]]}
USERS = [f"user-{i}" for i in range(300)]
# The stand-in image, started with its /predict patched to fail: a v2 whose model is broken.
BROKEN_PREDICT = (
    "import app\n"
    "def do_POST(self):\n"
    "    self.rfile.read(int(self.headers.get('Content-Length') or 0))\n"
    "    self._answer(500, {'error': 'model v2 failed'})\n"
    "app.Handler.do_POST = do_POST\n"
    "app.main()\n"
)


@pytest.fixture(scope="module")
def learner_code():
    """Your router and controller, constructed once before any container starts (a stub fails here, cheaply)."""
    CanaryRouter("http://127.0.0.1:9", "http://127.0.0.1:9")
    CanaryController(lambda percent: None, lambda window_s: (0, 0), clock=FakeClock())


@pytest.fixture(scope="module")
def v1(learner_code, docker_run_shared, standin_image):
    return docker_run_shared(standin_image, env={"APP_VERSION": "v1"})


@pytest.fixture(scope="module")
def v2_good(learner_code, docker_run_shared, standin_image):
    return docker_run_shared(standin_image, env={"APP_VERSION": "v2"})


@pytest.fixture(scope="module")
def v2_broken(learner_code, docker_run_shared, standin_image):
    return docker_run_shared(standin_image, env={"APP_VERSION": "v2"}, command=["python3", "-c", BROKEN_PREDICT])


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

"""Task 6, unit tier: the canary router against real HTTP servers on loopback."""

import gc
import http.server
import json
import sys
import threading
import time
import tracemalloc
import types
from contextlib import contextmanager

import pytest

from mlops_katas.fakes import FakeClock
from mlops_katas.infra.http_server import ControlledServer, free_port
from mlops_katas.interleave import switching_threads
from router import CanaryRouter

pytestmark = pytest.mark.task(taskno=6)

USERS = [f"user-{i}" for i in range(400)]
ROW = {"features": [[5.1, 3.5, 1.4, 0.2]]}
GENEROUS_S = 5.0


@pytest.fixture
def servers():
    with ControlledServer() as stable, ControlledServer() as canary:
        stable.behaviour.model_version, canary.behaviour.model_version = "v1", "v2"
        yield stable, canary


def test_everyone_goes_to_stable_until_the_canary_gets_traffic(servers):
    stable, canary = servers
    router = CanaryRouter(stable.url, canary.url)
    answers = [router.predict(u, ROW) for u in USERS[:50]]
    assert all(a == (200, {"predictions": [0], "model_version": "v1"}) for a in answers), (
        f"a new router sends everyone to stable; got e.g. {answers[:2]}")
    assert {router.variant_for(u) for u in USERS} == {"stable"}, "variant_for is 'stable' for everyone at 0 %"
    assert not canary.received, "the canary server must get no request at 0 %"


def test_predict_forwards_the_body_and_passes_the_answer_through(servers):
    stable, canary = servers
    router = CanaryRouter(stable.url + "/", canary.url)
    status, body = router.predict("user-1", ROW)
    assert (status, body) == (200, {"predictions": [0], "model_version": "v1"}), f"the stable answer, got {(status, body)}"
    got = stable.received[-1]
    assert (got.method, got.path, got.body) == ("POST", "/predict", ROW), (
        f"the router should POST the payload as JSON to <stable_url>/predict, the server saw {got}")
    assert got.content_type.split(";")[0].strip().lower() == "application/json", (
        f"a JSON body is sent with Content-Type: application/json (servers reject bodies of another type), "
        f"the server saw {got.content_type!r}")
    stable.set("failing", status=400)
    assert router.predict("user-1", ROW)[0] == 400, "an upstream 400 is passed through as 400"


def test_an_upstream_error_answer_keeps_its_json_body(servers):
    stable, canary = servers
    router = CanaryRouter(stable.url, canary.url)
    for status in (400, 503):
        stable.set("failing", status=status)
        got = router.predict("user-1", ROW)
        assert got == (status, {"error": "failing on purpose"}), (
            f"predict returns the upstream status and its parsed JSON body whatever the status: the server answered "
            f'{status} with {{"error": "failing on purpose"}}, the router returned {got}')


def test_a_url_with_a_path_keeps_it(servers):
    stable, canary = servers
    router = CanaryRouter(stable.url + "/models/v1", canary.url + "/models/v2/")
    router.predict("user-1", ROW)
    router.set_canary_percent(100)
    router.predict("user-1", ROW)
    assert stable.requests == [("POST", "/models/v1/predict")] and canary.requests == [("POST", "/models/v2/predict")], (
        "<url>/predict keeps the URL's path: http://host/models/v1 is served at /models/v1/predict (and "
        f"http://host/models/v2/ at /models/v2/predict); stable saw {stable.requests}, canary saw {canary.requests}")


def test_users_split_by_percent_and_stay_put_when_it_grows(servers):
    stable, canary = servers
    router = CanaryRouter(stable.url, canary.url + "/", salt="r1")  # a trailing / on either URL is fine
    router.set_canary_percent(25)
    first = {u for u in USERS if router.variant_for(u) == "canary"}
    assert 60 <= len(first) <= 140, f"about 25 % of 400 users should see the canary, {len(first)} do"
    for u in USERS[:40]:
        status, body = router.predict(u, ROW)
        expected = "v2" if u in first else "v1"
        assert body["model_version"] == expected, f"{u} is routed to {router.variant_for(u)}, but got {body}"
    router.set_canary_percent(60)
    later = {u for u in USERS if router.variant_for(u) == "canary"}
    assert first <= later, f"going from 25 % to 60 % moved {len(first - later)} canary users back to stable"
    router.set_canary_percent(100)
    assert {router.variant_for(u) for u in USERS} == {"canary"}, "at 100 % everyone sees the canary"
    router.set_canary_percent(0)
    assert {router.variant_for(u) for u in USERS} == {"stable"}, "back at 0 % (a rollback) everyone sees stable"


def test_a_fractional_percent_is_honoured(servers):
    stable, canary = servers
    router = CanaryRouter(stable.url, canary.url, salt="r2")
    router.set_canary_percent(0.5)
    users = [f"user-{i}" for i in range(20_000)]
    on_canary = sum(router.variant_for(u) == "canary" for u in users)
    assert 50 <= on_canary <= 150, (
        f"set_canary_percent(0.5) gives the canary 0.5 % of users, about 100 of 20,000; {on_canary} see it "
        "(is the percent rounded to a whole number?)")


def test_the_salt_is_used(servers):
    stable, canary = servers
    one, two = CanaryRouter(stable.url, canary.url, salt="a"), CanaryRouter(stable.url, canary.url, salt="b")
    one.set_canary_percent(50)
    two.set_canary_percent(50)
    same = sum(one.variant_for(u) == two.variant_for(u) for u in USERS)
    assert same < 300, f"two salts should split users independently; {same} of 400 agree"


def test_error_counts_cover_the_canary_over_the_window():
    clock = FakeClock()
    with ControlledServer() as stable, ControlledServer("failing") as canary:
        router = CanaryRouter(stable.url, canary.url, clock=clock)
        router.set_canary_percent(50)
        canary_users = [u for u in USERS if router.variant_for(u) == "canary"][:10]
        stable_users = [u for u in USERS if router.variant_for(u) == "stable"][:10]
        assert router.error_counts(300) == (0, 0), "no canary request yet: (0, 0)"
        for u in stable_users:
            assert router.predict(u, ROW)[0] == 200, "stable users are served by the healthy stable server"
        assert router.error_counts(300) == (0, 0), "stable answers are not the canary's: still (0, 0)"
        for u in canary_users[:4]:
            assert router.predict(u, ROW)[0] == 500, "the failing canary's 500 reaches its users"
        clock.advance(100)
        canary.set("healthy")
        for u in canary_users[4:]:
            router.predict(u, ROW)
        assert router.error_counts(300) == (4, 10), f"4 errors of 10 canary answers in 300 s, got {router.error_counts(300)}"
        assert router.error_counts(100) == (4, 10), "an answer exactly window_s old is still in the window"
        assert router.error_counts(50) == (0, 6), f"only the 6 healthy answers are in the last 50 s: {router.error_counts(50)}"
        clock.advance(0.5)
        assert router.error_counts(100) == (0, 6), "an answer older than window_s has left the window"
        assert router.error_counts(300) == (4, 10), (
            "asking for a short window must not forget answers a longer window still holds: 4 errors of 10 in 300 s, "
            f"got {router.error_counts(300)}")


@contextmanager
def a_canary_answer_on_its_way():
    """All traffic on a canary that answers 500 after half a second: yields the router, its fake clock and
    the list the user's answer lands in, once the canary has the request and before it answers."""
    clock = FakeClock()
    with ControlledServer() as stable, ControlledServer("failing", delay_s=0.5) as canary:
        router = CanaryRouter(stable.url, canary.url, clock=clock)
        router.set_canary_percent(100)
        answers = []
        request = threading.Thread(target=lambda: answers.append(router.predict("user-1", ROW)))
        request.start()
        deadline = time.monotonic() + GENEROUS_S
        while not canary.received and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            yield router, clock, answers
        finally:
            request.join(GENEROUS_S)


def test_an_answer_in_flight_during_a_rollback_still_counts_for_the_canary():
    with a_canary_answer_on_its_way() as (router, _, answers):
        router.set_canary_percent(0)  # the rollback, while the canary is still answering
    assert answers and answers[0][0] == 500, f"the user routed to the canary gets its 500, got {answers}"
    assert router.error_counts(60) == (1, 1), (
        "the 500 came from the canary, so it is a canary error even though the canary was rolled back while it "
        f"was answering: expected (1, 1), got {router.error_counts(60)} (is the variant looked up again after "
        "the answer?)")


def test_a_canary_answer_is_counted_at_the_time_it_arrives():
    with a_canary_answer_on_its_way() as (router, clock, answers):
        clock.advance(120)  # the answer is still on its way
    assert answers and answers[0][0] == 500, f"the user routed to the canary gets its 500, got {answers}"
    assert router.error_counts(60) == (1, 1), (
        "an answer is counted at the clock() time it arrived, not when its request was sent: the 500 arrived "
        f"just now, so the last 60 s hold it: expected (1, 1), got {router.error_counts(60)}")


def test_client_errors_from_the_canary_are_not_canary_errors():
    clock = FakeClock()
    with ControlledServer() as stable, ControlledServer() as canary:
        router = CanaryRouter(stable.url, canary.url, clock=clock)
        router.set_canary_percent(100)
        canary.set("failing", status=400)
        for u in USERS[:3]:
            assert router.predict(u, ROW)[0] == 400, "the canary's 400 is passed through to its user"
        assert router.error_counts(60) == (0, 3), (
            f"a 400 is the client's fault, not the canary's: an error is a status >= 500, so 3 answers and 0 errors, "
            f"got {router.error_counts(60)}")
        canary.set("failing", status=503)
        router.predict(USERS[3], ROW)
        assert router.error_counts(60) == (1, 4), f"a 503 is a server error: 1 error of 4, got {router.error_counts(60)}"
        for user, status in zip(USERS[4:], (501, 505, 507, 511)):
            canary.set("failing", status=status)
            assert router.predict(user, ROW)[0] == status, f"the canary's {status} is passed through to its user"
        assert router.error_counts(60) == (5, 8), (
            f"every status >= 500 is a server error, not only 500, 502, 503 and 504: 501, 505, 507 and 511 make "
            f"5 errors of 8, got {router.error_counts(60)}")


def test_an_unreachable_canary_is_a_502_and_counts_as_an_error():
    clock = FakeClock()
    with ControlledServer() as stable:
        router = CanaryRouter(stable.url, f"http://127.0.0.1:{free_port()}", clock=clock)
        router.set_canary_percent(100)
        status, body = router.predict("user-1", ROW)
        assert status == 502 and isinstance(body.get("error"), str), f"no answer from the canary is a 502, got {(status, body)}"
        assert router.error_counts(60) == (1, 1), f"a 502 is a canary error: {router.error_counts(60)}"


class HangsUp(http.server.BaseHTTPRequestHandler):
    """Reads the request, then closes the connection without answering (a crashed or restarted server)."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.close_connection = True


@contextmanager
def serving(handler):
    """A real HTTP server on loopback answering every request with `handler` (for the failures ControlledServer
    does not stage); yields its URL and stops it, also after a failed assertion."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_an_upstream_that_hangs_up_is_a_502():
    with serving(HangsUp) as url, ControlledServer() as stable:
        router = CanaryRouter(stable.url, url, clock=FakeClock())
        router.set_canary_percent(100)
        status, body = router.predict("user-1", ROW)
        assert status == 502 and isinstance(body.get("error"), str), (
            "a canary that closes the connection without an answer gave no answer: (502, {'error': ...}), "
            f"got {(status, body)}")
        assert router.error_counts(60) == (1, 1), (
            f"the router's 502 for a canary that hung up is a canary error: expected (1, 1), got {router.error_counts(60)}")


class CutsOff(http.server.BaseHTTPRequestHandler):
    """Starts a 200 answer with a JSON body, then closes the connection half-way through it (a crashed server)."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "200")
        self.end_headers()
        self.wfile.write(b'{"predictions": [1], "model_ver')
        self.wfile.flush()
        self.close_connection = True


def test_an_answer_cut_off_half_way_is_a_502():
    with serving(CutsOff) as url, ControlledServer() as stable:
        router = CanaryRouter(stable.url, url, clock=FakeClock())
        router.set_canary_percent(100)
        try:
            status, body = router.predict("user-1", ROW)
        except Exception as e:  # noqa: BLE001 - reported below
            pytest.fail(f"a canary whose connection closed half-way through its answer made predict() raise "
                        f"{e!r}: the whole answer never arrived, so it is no answer, (502, {{'error': ...}})")
        assert status == 502 and isinstance(body.get("error"), str), (
            "the canary announced 200 bytes of JSON and closed the connection after 31: the whole answer never "
            f"arrived, so it is no answer: (502, {{'error': ...}}), got {(status, body)}")
        assert router.error_counts(60) == (1, 1), (
            f"the router's 502 for a cut-off answer is a canary error: expected (1, 1), got {router.error_counts(60)}")


def test_a_slow_canary_times_out_as_a_502():
    with ControlledServer() as stable, ControlledServer("slow", delay_s=3.0) as canary:
        router = CanaryRouter(stable.url, canary.url, timeout_s=0.3)
        router.set_canary_percent(100)
        began = time.monotonic()
        status, _ = router.predict("user-1", ROW)
        assert status == 502, f"an answer slower than timeout_s is a 502, got {status}"
        assert time.monotonic() - began < 2.5, "the router must give up after timeout_s (0.3 s), not wait 3 s"


def test_timeout_s_is_the_limit_the_router_waits():
    with ControlledServer() as stable, ControlledServer("slow", delay_s=1.0) as canary:
        router = CanaryRouter(stable.url, canary.url, timeout_s=0.3)
        router.set_canary_percent(100)
        status, _ = router.predict("user-1", ROW)
        assert status == 502, (
            f"with timeout_s=0.3 an answer that takes 1 s is too late: a 502, got {status} (is timeout_s ignored?)")


def test_the_default_timeout_outlasts_a_one_second_answer():
    with ControlledServer() as stable, ControlledServer("slow", delay_s=1.0) as canary:
        router = CanaryRouter(stable.url, canary.url)
        router.set_canary_percent(100)
        assert router.predict("user-1", ROW)[0] == 200, "the default timeout is 2 s: a 1 s answer arrives"


@pytest.mark.parametrize("raw, content_type", [
    (b"hello", None), (b"", None), (b"NaN", None), (b"[1.5, -Infinity]", None),
    (b'{"predictions": [0.5], "score": NaN}', None), (b'{"p": -Infinity}', None),
    (b'{"predictions": [{"p": Infinity}]}', None),
    ('{"label": "ok"}'.encode("utf-16"), "application/json; charset=utf-16"),
], ids=["text", "empty", "NaN", "Infinity-in-a-list", "NaN-as-an-object-value", "minus-Infinity-as-an-object-value",
        "Infinity-in-an-object-in-a-list", "utf-16-with-a-utf-16-charset"])
def test_a_non_json_answer_is_a_502(servers, raw, content_type):
    # NaN and Infinity are not JSON (RFC 8259), though Python's json.loads takes them by default. JSON text is UTF-8
    # whatever charset the header names, so UTF-16 bytes are not JSON, though json.loads(bytes) guesses UTF-16.
    _, canary = servers
    with a_raw_server(200, raw, content_type) as plain:
        router = CanaryRouter(plain, canary.url)
        status, body = router.predict("user-1", ROW)
        assert status == 502 and "error" in body, f"an answer that is not JSON ({raw!r}) is a 502, got {(status, body)}"
        router = CanaryRouter(canary.url, plain, clock=FakeClock())
        router.set_canary_percent(100)
        status, body = router.predict("user-1", ROW)
        assert status == 502 and "error" in body, f"a canary answer that is not JSON ({raw!r}) is a 502 too, got {(status, body)}"
        assert router.error_counts(60) == (1, 1), (
            "the router's own 502 for a canary answer that is not JSON is a canary error: expected (1, 1), "
            f"got {router.error_counts(60)}")


@contextmanager
def a_raw_server(status, body, content_type):
    """A server whose every POST is answered with `status`, the bytes `body` and this Content-Type (None: no such
    header); yields its URL."""

    class Raw(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            if content_type is not None:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Raw) as url:
        yield url


@pytest.mark.parametrize("status", [400, 503])
def test_an_error_page_that_is_not_json_is_a_502(servers, status):
    stable, _ = servers
    page = b"<html><body><h1>Service Unavailable</h1></body></html>"
    with a_raw_server(status, page, "text/html") as url:
        router = CanaryRouter(stable.url, url, clock=FakeClock())
        router.set_canary_percent(100)
        got_status, body = router.predict("user-1", ROW)
        assert got_status == 502 and isinstance(body, dict) and isinstance(body.get("error"), str), (
            f"the canary answered {status} with an HTML page, which is not JSON: the router gives (502, {{'error': ...}}) "
            f"whatever the upstream status, got {(got_status, body)}")
        assert router.error_counts(60) == (1, 1), (
            f"the router's own 502 for a body that is not JSON is a canary error, even when the upstream said {status}: "
            f"expected (1, 1), got {router.error_counts(60)}")


def test_a_json_body_is_parsed_whatever_its_content_type(servers):
    stable, _ = servers
    with a_raw_server(200, b'{"predictions": [1], "model_version": "v2"}', "text/plain; charset=utf-8") as url:
        router = CanaryRouter(stable.url, url, clock=FakeClock())
        router.set_canary_percent(100)
        got = router.predict("user-1", ROW)
        assert got == (200, {"predictions": [1], "model_version": "v2"}), (
            "whether a body is JSON is decided by parsing it, not by its Content-Type: a JSON body sent as text/plain "
            f"is the canary's answer (200 and its parsed body), got {got}")
        assert router.error_counts(60) == (0, 1), f"a 200 is not an error: expected (0, 1), got {router.error_counts(60)}"


NON_ASCII = {"label": "café", "emoji": "🙂"}


@pytest.mark.parametrize("content_type", ["text/plain", "text/html", "application/octet-stream", "application/json",
                                          "text/plain; charset=utf-8"],
                         ids=["text-plain", "text-html", "octet-stream", "application-json", "text-plain-utf8"])
def test_a_json_answer_is_read_as_utf8_whatever_its_content_type(servers, content_type):
    stable, _ = servers
    raw = json.dumps(NON_ASCII, ensure_ascii=False).encode("utf-8")
    with a_raw_server(200, raw, content_type) as url:
        router = CanaryRouter(stable.url, url, clock=FakeClock())
        router.set_canary_percent(100)
        got = router.predict("user-1", ROW)
        assert got == (200, NON_ASCII), (
            f"the canary answered 200 with the UTF-8 bytes of {raw.decode('utf-8')} and Content-Type: {content_type}; "
            "JSON text is UTF-8 (RFC 8259) whatever charset the header names or leaves out, so predict returns "
            f"{(200, NON_ASCII)}, got {got} (requests' .json() decodes a text/* answer without a charset as ISO-8859-1: "
            "decode the bytes yourself, json.loads(answer.content.decode('utf-8')), not answer.json())")
        assert router.error_counts(60) == (0, 1), f"a 200 is not an error: expected (0, 1), got {router.error_counts(60)}"


@pytest.mark.parametrize("raw, parsed", [(b"[0, 1]", [0, 1]), (b"0.75", 0.75), (b'"ok"', "ok"), (b"null", None),
                                        (b"false", False), (b"0", 0), (b'""', ""), (b"{}", {}), (b"[]", [])],
                         ids=["list", "number", "string", "null", "false", "zero", "empty-string", "empty-object",
                              "empty-list"])
def test_a_json_body_that_is_not_an_object_is_still_the_answer(servers, raw, parsed):
    stable, _ = servers
    with a_raw_server(200, raw, "application/json") as url:
        router = CanaryRouter(stable.url, url, clock=FakeClock())
        router.set_canary_percent(100)
        got = router.predict("user-1", ROW)
        assert got == (200, parsed), (
            f"the canary answered 200 with the JSON body {raw.decode()}: any JSON value is an answer, not only an "
            f"object, so predict returns the status and the parsed body {(200, parsed)}, got {got}")
        assert router.error_counts(60) == (0, 1), f"a 200 is not an error: expected (0, 1), got {router.error_counts(60)}"


@pytest.mark.parametrize("raw", [b'{"label": "NaN"}', b'["Infinity", 1]', b'{"note": "-Infinity and NaN are not JSON values"}'],
                         ids=["NaN-label", "Infinity-string-in-a-list", "both-in-a-sentence"])
def test_nan_or_infinity_inside_a_json_string_is_still_the_answer(servers, raw):
    stable, _ = servers
    with a_raw_server(200, raw, "application/json") as url:
        router = CanaryRouter(stable.url, url, clock=FakeClock())
        router.set_canary_percent(100)
        got = router.predict("user-1", ROW)
        assert got == (200, json.loads(raw)), (
            f"the canary answered 200 with {raw.decode()}: NaN and Infinity inside a JSON string are plain text, so this "
            f"is valid JSON and the answer {(200, json.loads(raw))}, got {got} (refuse NaN and Infinity as values, "
            "with json.loads' parse_constant, not by searching the bytes)")
        assert router.error_counts(60) == (0, 1), (
            f"a 200 with a JSON body is a canary success, not an error: expected (0, 1), got {router.error_counts(60)}")


def test_windows_reach_back_max_window_s():
    clock = FakeClock()
    with ControlledServer() as stable, ControlledServer() as canary:
        router = CanaryRouter(stable.url, canary.url, clock=clock, max_window_s=600)
        router.set_canary_percent(100)
        router.predict("user-1", ROW)
        clock.advance(600)
        assert router.error_counts(600) == (0, 1), "an answer max_window_s old still counts in a max_window_s window"
        router.predict("user-2", ROW)
        assert router.error_counts(600) == (0, 2), (
            "a new canary answer must not forget one exactly max_window_s old: a max_window_s window still holds both, "
            f"got {router.error_counts(600)}")
        with pytest.raises(ValueError):
            router.error_counts(601)
        for window in (0, -5, float("nan")):
            with pytest.raises(ValueError):
                router.error_counts(window)
        assert CanaryRouter(stable.url, canary.url, clock=clock).error_counts(3600) == (0, 0), (
            "max_window_s defaults to 3600 s, the controller's long window")


def reachable_objects(root) -> int:
    """How many objects `root` holds, directly or through its attributes and containers."""
    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType)
    seen, todo = {id(root)}, [root]
    while todo:
        for ref in gc.get_referents(todo.pop()):
            if not isinstance(ref, skip) and id(ref) not in seen:
                seen.add(id(ref))
                todo.append(ref)
    return len(seen)


def test_old_answers_are_forgotten_so_memory_stays_bounded():
    clock = FakeClock()
    with ControlledServer() as stable, ControlledServer() as canary:
        router = CanaryRouter(stable.url, canary.url, clock=clock, max_window_s=60)
        router.set_canary_percent(100)
        for _ in range(20):
            router.predict("user-1", ROW)
            clock.advance(10)
        before = reachable_objects(router)
        for _ in range(150):
            router.predict("user-1", ROW)
            clock.advance(10)
        grown = reachable_objects(router) - before
        assert grown < 50, (
            f"150 more canary answers, one every 10 s with max_window_s=60, made the router hold {grown} more objects: "
            "answers older than max_window_s must be forgotten, or memory grows with every request")
        assert router.error_counts(60) == (0, 6), "the last minute still holds its 6 answers"


def test_routing_many_distinct_users_keeps_no_per_user_state():
    router = CanaryRouter("http://127.0.0.1:9", "http://127.0.0.1:9", clock=FakeClock())
    router.set_canary_percent(50)
    for i in range(20_000):  # a bounded cache may fill up here: only growth after it counts
        router.variant_for(f"user-{i}")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000, 40_000):
            router.variant_for(f"user-{i}")
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 200_000, (
        f"routing 20,000 more distinct users made the router keep {grown:,} more bytes: the split is a hash of the "
        "salt and the user id, so the router needs no per-user state, and a site with millions of users would run "
        "out of memory if it remembered each one's variant")


def test_predict_and_error_counts_are_safe_from_many_threads():
    clock = FakeClock()
    with ControlledServer() as stable, ControlledServer() as canary:
        router = CanaryRouter(stable.url, canary.url, clock=clock)
        router.set_canary_percent(100)
        problems = []

        def client(k):
            try:
                for i in range(40):
                    router.predict(f"user-{k}-{i}", ROW)
            except Exception as e:  # noqa: BLE001 - reported below
                problems.append(e)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        switch = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as possible, so unguarded shared state shows
        try:
            for t in threads:
                t.start()
            deadline = time.monotonic() + 60
            while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
                try:
                    router.error_counts(60)
                except Exception as e:  # noqa: BLE001 - reported below
                    problems.append(e)
        finally:
            sys.setswitchinterval(switch)
            for t in threads:
                t.join(GENEROUS_S)
        assert not problems, (
            f"predict() from several threads while error_counts() reads the answers failed: {problems[:3]!r}; "
            "guard the canary's answers with a lock")
        assert router.error_counts(60) == (0, 240), f"240 canary answers from 6 threads, got {router.error_counts(60)}"


def test_answers_from_many_threads_are_never_lost_while_old_ones_are_forgotten(impl_dir):
    clock = FakeClock()
    with ControlledServer() as stable, ControlledServer() as canary:
        router = CanaryRouter(stable.url, canary.url, clock=clock, max_window_s=60)
        router.set_canary_percent(100)
        for round_ in range(8):
            clock.advance(61)  # every answer so far is now older than max_window_s: the next ones forget them
            start = threading.Barrier(4)

            def client(k):
                start.wait(GENEROUS_S)
                for i in range(6):
                    router.predict(f"user-{round_}-{k}-{i}", ROW)

            # The clients give up the CPU before every bytecode operation of your code: forgetting old answers
            # in one thread while another records its answer loses answers unless one lock holds both.
            with switching_threads(impl_dir, operations=True):
                threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(GENEROUS_S * 4)
            assert not any(t.is_alive() for t in threads), "the clients' predict() calls did not all return"
            got = router.error_counts(60)
            assert got == (0, 24), (
                f"round {round_}: 4 threads each got 6 canary answers in the last minute while the older answers "
                f"were being forgotten: the last 60 s hold 24 answers, got {got} (guard recording, forgetting and "
                "counting the canary's answers with one lock)")


class PreemptedClock(FakeClock):
    """A fake clock whose reads from one thread (`slow`) are held up after the time is taken: as if that
    thread were preempted right after clock() returned, while other threads carry on."""

    def __init__(self):
        super().__init__()
        self.slow = None
        self.slow_reading = threading.Event()
        self.others_done = threading.Event()

    def __call__(self) -> float:
        now = self.now
        if threading.current_thread() is self.slow:
            self.slow_reading.set()
            self.others_done.wait(1.0)  # a router that reads the clock under its lock holds the others back
        return now


def test_an_answer_recorded_late_is_still_counted_at_its_own_time(servers):
    stable, canary = servers
    clock = PreemptedClock()
    router = CanaryRouter(stable.url, canary.url, clock=clock)
    router.set_canary_percent(100)
    first = threading.Thread(target=router.predict, args=("user-1", ROW))
    clock.slow = first
    first.start()
    assert clock.slow_reading.wait(GENEROUS_S), "predict() should read the clock for the canary's answer"
    clock.advance(10)  # meanwhile, ten seconds later, a second canary answer arrives and is recorded
    second = threading.Thread(target=lambda: (router.predict("user-2", ROW), clock.others_done.set()))
    second.start()
    second.join(GENEROUS_S)
    first.join(GENEROUS_S)
    assert not first.is_alive() and not second.is_alive(), "both predict() calls should return"
    errors, total = router.error_counts(5)
    assert total >= 1, (
        f"the answer that arrived just now is in the last 5 s whatever order the threads recorded the answers "
        f"in, got {(errors, total)}: an answer read at an earlier clock() time but recorded after a later one "
        "must not hide it (read the time under the lock that records it, or do not assume the answers are in "
        "time order)")
    assert router.error_counts(60) == (0, 2), f"the last minute holds both answers, got {router.error_counts(60)}"


@pytest.mark.parametrize("percent", [-1, 100.5, float("nan")])
def test_bad_percent_raises_value_error(servers, percent):
    stable, canary = servers
    router = CanaryRouter(stable.url, canary.url)
    with pytest.raises(ValueError):
        router.set_canary_percent(percent)

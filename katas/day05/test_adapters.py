"""Task 1: the two doors to the outside world, a bounded command and a bounded HTTP probe.

Real processes and a real HTTP server on loopback: timeouts only mean something against
things that can actually hang.
"""

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy
import pytest

from deploy_automation import http_health_check, run_command
from mlops_katas.infra.http_server import ControlledServer, free_port

pytestmark = pytest.mark.task(taskno=1)


def test_run_command_returns_exit_code_and_output():
    done = run_command([sys.executable, "-c", "import sys; print('built'); print('warn', file=sys.stderr); sys.exit(3)"], 10)
    assert done.returncode == 3, "run_command should report the program's exit code, not raise on a non-zero one"
    assert done.stdout.strip() == "built", "run_command should capture standard output as text"
    assert "warn" in done.stderr, "run_command should capture standard error as text"


def test_run_command_returns_a_large_output_whole():
    # more than a pipe buffer holds (64 KiB) on each stream, as a docker build prints
    script = "import sys; sys.stdout.write('o' * 1_000_000); sys.stderr.write('e' * 1_000_000)"
    try:
        done = run_command([sys.executable, "-c", script], 10)
    except subprocess.TimeoutExpired:
        pytest.fail("a program that prints a lot and exits at once should finish, not time out: read its output "
                    "while it runs (a full pipe blocks the program)")
    assert done.returncode == 0, f"the program should exit 0, got {done.returncode}"
    assert len(done.stdout) == 1_000_000, f"all of standard output should be captured, got {len(done.stdout)} chars"
    assert len(done.stderr) == 1_000_000, f"all of standard error should be captured, got {len(done.stderr)} chars"


def test_run_command_returns_output_that_is_not_utf8_as_text():
    # a build's RUN step may print Latin-1 or raw bytes, and docker passes them on unchanged
    script = "import sys; sys.stdout.buffer.write(b'caf\\xe9 built\\n'); sys.stderr.buffer.write(b'\\xff\\xfe warn\\n')"
    try:
        done = run_command([sys.executable, "-c", script], 10)
    except UnicodeDecodeError as error:
        pytest.fail(f"run_command raised {error!r} on output that is not UTF-8: a build log is not always text in "
                    "your encoding, so decode it with bad bytes replaced (errors='replace'), never raise (hint 1.2)")
    assert done.returncode == 0, f"the program should exit 0, got {done.returncode}"
    assert isinstance(done.stdout, str) and done.stdout.startswith("caf") and "built" in done.stdout, (
        f"standard output should be captured as text, its bad byte replaced and the rest kept; got {done.stdout!r}")
    assert isinstance(done.stderr, str) and "warn" in done.stderr, (
        f"standard error should be captured as text, its bad bytes replaced and the rest kept; got {done.stderr!r}")
    assert done.stdout.startswith("caf\ufffd"), (
        f"standard output's bad byte should be replaced by U+FFFD (errors='replace'), not dropped: 'caf\\xe9 built' "
        f"should read 'caf\ufffd built', got {done.stdout!r}")
    assert done.stderr.startswith("\ufffd"), (
        f"standard error's bad bytes should be replaced by U+FFFD (errors='replace'), not dropped: '\\xff\\xfe warn' "
        f"should read '\ufffd\ufffd warn', got {done.stderr!r}")


def test_run_command_runs_the_program_with_the_caller_s_environment(monkeypatch):
    # docker finds its engine and credentials through DOCKER_HOST, DOCKER_CONFIG and HOME in its environment
    monkeypatch.setenv("KATAS_DAY05_ENGINE", "ssh://deploy@build-host")
    done = run_command([sys.executable, "-c", "import os; print(os.environ.get('KATAS_DAY05_ENGINE', 'missing'))"], 10)
    assert done.stdout.strip() == "ssh://deploy@build-host", (
        f"the program should run with the caller's environment (as docker reads DOCKER_HOST from it), not a "
        f"replacement of it (env={{...}} replaces the whole environment); the variable read {done.stdout.strip()!r}"
    )


def test_run_command_does_not_use_a_shell():
    done = run_command([sys.executable, "-c", "import sys; print(sys.argv[1])", "$HOME; echo injected"], 10)
    assert done.stdout.strip() == "$HOME; echo injected", (
        "arguments should reach the program unchanged, not be interpreted by a shell"
    )


def _still_running(pid: int) -> bool:
    """True while the process exists and is not a zombie (killed, waiting to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (OSError, IndexError):
            return False
    ps = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, timeout=10)
    return bool(ps.stdout.strip()) and not ps.stdout.strip().startswith("Z")


def _seconds_to_timeout_expired(script: str, timeout: float, pid_file: Path) -> float:
    """Seconds until run_command(python -c script pid_file, timeout) raises TimeoutExpired. The process whose pid
    the script writes to pid_file is killed afterwards whatever happened, so no test leaves it running."""
    started = time.monotonic()
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            run_command([sys.executable, "-c", script, str(pid_file)], timeout)
        return time.monotonic() - started
    finally:
        pid_text = pid_file.read_text().strip() if pid_file.exists() else ""
        if pid_text and _still_running(int(pid_text)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_text), signal.SIGKILL)


def test_run_command_gives_up_at_the_timeout_and_kills_the_program(tmp_path):
    pid_file = tmp_path / "pid"
    script = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(8)"
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_command([sys.executable, "-c", script, str(pid_file)], 1.0)
    assert time.monotonic() - started < 5, "run_command should stop a program that runs past its timeout"
    deadline = time.monotonic() + 0.5
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid_text = pid_file.read_text().strip() if pid_file.exists() else ""
    if not pid_text:
        return  # killed before it could even write its pid: nothing is left running
    pid = int(pid_text)
    deadline = time.monotonic() + 5
    while _still_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _still_running(pid)
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "past its timeout the program should be killed, not left running in the background"


@pytest.mark.timeout(30)
def test_run_command_returns_at_the_timeout_even_if_a_child_of_the_program_holds_its_output(tmp_path):
    # the docker CLI runs plugins (docker-buildx) as child processes that share its stdout and stderr
    pid_file = tmp_path / "grandchild"
    script = ("import subprocess, sys, time; "
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(15)']); "
              "open(sys.argv[1], 'w').write(str(child.pid)); time.sleep(30)")
    waited = _seconds_to_timeout_expired(script, 2.0, pid_file)
    assert waited < 9, (
        f"run_command took {waited:.1f} s for a 2 s timeout: once the program is killed it should return, not wait "
        f"for a child process of the program (alive 15 s) to close the output pipes it inherited"
    )


@pytest.mark.timeout(40)
def test_run_command_kills_a_program_that_ignores_sigterm(tmp_path):
    # a SIGTERM is a request a program may ignore (or handle slowly); past the timeout the program is killed
    pid_file = tmp_path / "pid"
    script = ("import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(25)")
    outcome = {}

    def call():
        try:
            outcome["returned"] = run_command([sys.executable, "-c", script, str(pid_file)], 3.0)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread below
            outcome["raised"] = exc

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    caller.join(timeout=15)
    hung = caller.is_alive()
    pid_text = pid_file.read_text().strip() if pid_file.exists() else ""
    alive = bool(pid_text) and _still_running(int(pid_text))
    if alive:
        os.kill(int(pid_text), signal.SIGKILL)  # lets a run_command still waiting for it return
        caller.join(timeout=10)
    if isinstance(outcome.get("raised"), NotImplementedError):
        raise outcome["raised"]
    assert not hung, (
        "run_command was still waiting 12 s after its 3 s timeout for a program that ignores SIGTERM: past the "
        "timeout the program should be killed (SIGKILL, as Popen.kill() sends), not asked to stop"
    )
    assert isinstance(outcome.get("raised"), subprocess.TimeoutExpired), (
        f"past its timeout run_command should raise subprocess.TimeoutExpired, got {outcome}"
    )
    assert not alive, "past its timeout the program should be killed, not left running in the background"


@pytest.mark.timeout(40)
def test_run_command_kills_the_program_at_the_timeout_without_a_grace_period(tmp_path):
    # a program that ignores SIGTERM: only a SIGKILL sent at the timeout ends it there. While it lives it writes
    # time.monotonic() (one clock for every process on the machine) to a heartbeat file every 20 ms
    pid_file = tmp_path / "pid"
    beats = tmp_path / "pid.beats"
    script = ("import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "open(sys.argv[1], 'w').write(str(os.getpid())); beats = open(sys.argv[1] + '.beats', 'a', 1)\n"
              "for _ in range(1250): beats.write(repr(time.monotonic()) + '\\n'); time.sleep(0.02)")
    started = time.monotonic()
    waited = _seconds_to_timeout_expired(script, 1.0, pid_file)
    assert waited < 5, (
        f"run_command returned {waited:.1f} s after it started, for a 1 s timeout: past the timeout the program "
        f"should be killed at once (SIGKILL), not sent a SIGTERM and given a grace period it may spend running on"
    )
    stamps = [float(line) for line in (beats.read_text().split("\n") if beats.exists() else []) if line.strip()]
    if stamps:  # none: killed before it got going, so it did not run past its timeout
        ran_past = stamps[-1] - (started + 1.0)
        assert ran_past < 1.0, (
            f"the program was still running {ran_past:.1f} s after its 1 s timeout: past the timeout it should be "
            f"killed at once (SIGKILL), not sent a SIGTERM (which it ignores) and given a grace period before the "
            f"SIGKILL"
        )


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), numpy.float32("nan"), None], ids=repr)
def test_run_command_rejects_a_timeout_that_is_not_a_finite_positive_number(timeout):
    # None is what subprocess reads as "no limit": refused too, as a ValueError or (None is not a number) a TypeError
    refused = (ValueError, TypeError) if timeout is None else ValueError
    with pytest.raises(refused):
        run_command([sys.executable, "-c", "pass"], timeout)
        pytest.fail(f"run_command ran the program with timeout={timeout!r}, which means no limit or nonsense: it should "
                    f"refuse it (ValueError)")


def test_health_check_is_true_for_a_healthy_server():
    with ControlledServer("healthy") as server:
        assert http_health_check(f"{server.url}/health", 2) is True, "a 200 from /health means healthy"
        assert ("GET", "/health") in server.requests, "the probe should GET the URL it was given"


@pytest.mark.parametrize("status", [201, 204, 299, 404, 500, 503])
def test_health_check_is_false_for_any_status_but_200(status):
    with ControlledServer("failing") as server:
        server.set("failing", status=status)
        assert http_health_check(f"{server.url}/health", 2) is False, (
            f"a {status} answer means unhealthy: only a 200 is healthy"
        )


def test_health_check_does_not_follow_a_redirect_to_a_page_answering_200():
    # A proxy in front of a dead service: /health answers 302 to /login, and /login answers 200.
    with ControlledServer("redirect") as server:
        assert http_health_check(f"{server.url}/health", 2) is False, (
            "/health answered 302 (a redirect to a login page): that is not a 200 from the service, so it is "
            "unhealthy; do not follow redirects (urlopen follows them unless its opener is told not to)"
        )
        assert server.requests == [("GET", "/health")], (
            f"the probe should ask /health once and not follow the redirect, made {server.requests}")


class _Redirecting(BaseHTTPRequestHandler):
    """/health answers with the status the server was given, pointing to /login; /login answers 200."""

    def do_GET(self):  # noqa: N802 - the name http.server calls
        self.server.requests.append(self.path)
        if self.path == "/health":
            self.send_response(self.server.status)
            self.send_header("Location", "/login")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(handler, **state):
    """A ThreadingHTTPServer on loopback answering with `handler`, `requests` and `state` set on it; stopped after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests = []
    for name, value in state.items():
        setattr(server, name, value)
    worker = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    worker.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        worker.join(timeout=10)


@pytest.mark.parametrize("status", [301, 303, 307, 308])
def test_health_check_does_not_follow_any_kind_of_redirect(status):
    with serving(_Redirecting, status=status) as server:
        healthy = http_health_check(f"http://127.0.0.1:{server.server_address[1]}/health", 2)
    assert healthy is False, (
        f"/health answered {status} (a redirect to a login page answering 200): not a 200 from the service, so it is "
        f"unhealthy; no redirect is followed, whatever its status (urllib handles 301, 303, 307 and 308 as well as 302)"
    )
    assert server.requests == ["/health"], f"the probe should ask /health once and not follow the {status}, asked {server.requests}"


class _Recording(BaseHTTPRequestHandler):
    """Answers 200 to any path, query string included, and records the paths asked."""

    def do_GET(self):  # noqa: N802 - the name http.server calls
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_health_check_gets_the_whole_url_with_its_query_string():
    with serving(_Recording) as server:
        healthy = http_health_check(f"http://127.0.0.1:{server.server_address[1]}/health?deep=1", 2)
    assert server.requests == ["/health?deep=1"], (
        f"the probe should GET the URL it was given, its query string too (?deep=1 may ask the service for a deeper "
        f"check), asked {server.requests}"
    )
    assert healthy is True, "a 200 from /health?deep=1 means healthy"


def test_health_check_is_false_when_nothing_listens():
    assert http_health_check(f"http://127.0.0.1:{free_port()}/health", 2) is False, (
        "a refused connection means unhealthy, not an exception"
    )


def _probe_with_a_proxy_in_the_environment(url, proxy_url):
    """http_health_check(url, 2) in a fresh Python whose environment names `proxy_url` as the HTTP proxy from its
    start (as on a CI runner behind a corporate proxy: urllib may read it at import time); returns its answer."""
    import deploy_automation

    http_health_check(url, 2)  # in this process first, without the proxy: an unwritten stub stops here with its task
    env = {name: value for name, value in os.environ.items() if name.lower() != "no_proxy"}
    env.update(http_proxy=proxy_url, HTTP_PROXY=proxy_url, PYTHONPATH=str(Path(deploy_automation.__file__).parent))
    code = "import sys; from deploy_automation import http_health_check; print(http_health_check(sys.argv[1], 2))"
    done = subprocess.run([sys.executable, "-B", "-c", code, url], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"the probe should run in a fresh Python, it failed: {done.stderr[-2000:]}"
    return done.stdout.strip()


def test_health_check_ignores_a_proxy_set_in_the_environment():
    # the proxy cannot reach this host's loopback (here: nothing listens on its port)
    with ControlledServer("healthy") as server:
        healthy = _probe_with_a_proxy_in_the_environment(f"{server.url}/health", f"http://127.0.0.1:{free_port()}")
    assert healthy == "True", (
        f"the service answers 200 on loopback, but with http_proxy set in the environment the probe returned "
        f"{healthy}: it asked the proxy (urllib's default opener reads http_proxy from the environment). The probe "
        f"should connect to the URL's host itself and never use a proxy from the environment (e.g. "
        f"urllib.request.ProxyHandler({{}}) in the opener)"
    )


def test_health_check_of_a_dead_service_is_not_answered_by_a_proxy():
    # a proxy answering 200 to everything must not make a dead container look healthy
    with serving(_Recording) as proxy:
        healthy = _probe_with_a_proxy_in_the_environment(f"http://127.0.0.1:{free_port()}/health",
                                                         f"http://127.0.0.1:{proxy.server_address[1]}")
    assert healthy == "False" and proxy.requests == [], (
        f"nothing listens at the probed URL, yet the probe returned {healthy} after asking the proxy named in "
        f"http_proxy for {proxy.requests}: the probe should connect to the URL's host itself and never use a proxy "
        f"from the environment, whose 200 says nothing about the service"
    )


PROXY_SETTINGS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "no_proxy", "NO_PROXY")


def test_health_check_leaves_the_proxy_settings_in_the_environment(monkeypatch):
    # docker runs with the caller's environment and may need its proxy (to pull, or to reach a remote engine)
    proxy = f"http://127.0.0.1:{free_port()}"
    expected = {name: ("registry.internal" if name.lower() == "no_proxy" else proxy) for name in PROXY_SETTINGS}
    for name, value in expected.items():
        monkeypatch.setenv(name, value)
    with ControlledServer("healthy") as server:
        healthy = http_health_check(f"{server.url}/health", 2)
    left = {name: os.environ.get(name) for name in PROXY_SETTINGS}
    assert left == expected, (
        f"the probe should not use the proxy named in the environment, but it should not unset or change it either: "
        f"docker, run after it with the caller's environment, may need it; the settings became {left}"
    )
    assert healthy is True, "the service answers 200 on loopback: the probe, which ignores the proxy, is healthy"


def test_the_proxy_settings_stay_in_the_environment_during_the_probe(monkeypatch):
    # the environment is the whole process's: a docker command another thread starts meanwhile needs its proxy too
    proxy = f"http://127.0.0.1:{free_port()}"
    expected = {name: ("registry.internal" if name.lower() == "no_proxy" else proxy) for name in PROXY_SETTINGS}
    for name, value in expected.items():
        monkeypatch.setenv(name, value)
    seen = []

    class _RecordingTheEnvironment(_Recording):
        def do_GET(self):  # noqa: N802 - runs while the probe waits for its answer
            seen.append({name: os.environ.get(name) for name in PROXY_SETTINGS})
            super().do_GET()

    with serving(_RecordingTheEnvironment) as server:
        healthy = http_health_check(f"http://127.0.0.1:{server.server_address[1]}/health", 2)
    assert healthy is True, "the service answers 200 on loopback: the probe, which ignores the proxy, is healthy"
    assert seen == [expected], (
        f"while the probe was in flight the proxy settings should have stayed as they were ({expected}): the probe "
        f"should not use them, but not take them out of the process's environment for a while either; the server "
        f"saw {seen}"
    )


@contextlib.contextmanager
def one_raw_connection(answer):
    """A TCP server on loopback that takes one connection, reads the request and lets `answer(conn, stop)` play
    the server's side (no HTTP library: these servers misbehave on purpose); yields the probe's URL. Its thread is
    stopped and joined whatever the probe did, a probe that never connected included."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    stop = threading.Event()

    def serve():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(4096)
                answer(conn, stop)
            except OSError:
                pass  # the probe gave up and closed the connection

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/health"
    finally:
        stop.set()
        try:
            listener.shutdown(socket.SHUT_RDWR)  # wakes an accept() still waiting (a probe that never connected)
        except OSError:
            pass
        server.join(timeout=10)
        listener.close()


def probe_never_raising(url, what):
    """The probe answers a bool whatever the server did: an exception fails the test naming `what` it did."""
    try:
        return http_health_check(url, 2)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the contract is: never an exception
        pytest.fail(f"{what} should make the probe return False, not raise {exc!r}")


@pytest.mark.parametrize("answer", [b"SSH-2.0-OpenSSH_9.6\r\n\r\n", b"ICY 200 OK\r\nContent-Length: 0\r\n\r\n"],
                         ids=["ssh-banner", "icy-200"])
def test_health_check_is_false_for_an_answer_that_is_not_http(answer):
    with one_raw_connection(lambda conn, stop: conn.sendall(answer)) as url:
        healthy = probe_never_raising(url, "a malformed answer")
    assert healthy is False, (
        f"an answer that is not HTTP means unhealthy, even with a 200 in it: a status line that does not start with "
        f"'HTTP/' is not HTTP; the server answered {answer!r} and the probe returned {healthy!r}"
    )


@pytest.mark.parametrize("answer", [b"HTTP/1.1 200 \r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                                    b"HTTP/1.0 200 Fine\r\nContent-Length: 2\r\n\r\nok"],
                         ids=["empty-reason-phrase", "another-reason-phrase"])
def test_a_200_is_healthy_whatever_its_reason_phrase(answer):
    with one_raw_connection(lambda conn, stop: conn.sendall(answer)) as url:
        healthy = probe_never_raising(url, "a 200 with a reason phrase other than OK")
    assert healthy is True, (
        f"the status code alone decides: a 200 is healthy whatever reason phrase follows it (or none); the server "
        f"answered {answer!r} and the probe returned {healthy!r}"
    )


def test_health_check_is_false_when_the_connection_is_reset():
    # what a published port does while the container behind it is not listening yet
    def reset(conn, stop):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # closing now sends a reset

    with one_raw_connection(reset) as url:
        healthy = probe_never_raising(url, "a connection reset by the server")
    assert healthy is False, "a connection reset before any answer means unhealthy"


@pytest.mark.timeout(15)
def test_health_check_gives_up_on_a_slow_server_at_its_timeout():
    with ControlledServer("slow", delay_s=8) as server:
        started = time.monotonic()
        healthy = http_health_check(f"{server.url}/health", 0.5)
        waited = time.monotonic() - started
    assert healthy is False, "a server that does not answer within the timeout is unhealthy"
    assert waited < 5, f"the probe waited {waited:.1f} s for an 8 s answer; it should stop at its 0.5 s timeout"


@pytest.mark.timeout(30)
def test_health_check_gives_up_at_its_timeout_on_a_server_trickling_its_answer():
    # a 200 sent one byte every 0.25 s: each read gets a byte well within 1 s, the whole answer takes ~10 s
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

    def trickle(conn, stop):
        for byte in answer:
            if stop.wait(0.25):
                return
            conn.sendall(bytes([byte]))

    with one_raw_connection(trickle) as url:
        started = time.monotonic()
        healthy = http_health_check(url, 1.0)
        waited = time.monotonic() - started
    assert waited < 4, (
        f"the probe took {waited:.1f} s with a 1 s timeout: the timeout bounds the whole probe, not each read (a "
        f"server trickling its answer a byte at a time sends one well within any per-read timeout)"
    )
    assert healthy is False, "the 200 was not all there within the probe's 1 s timeout: no answer in time is unhealthy"


def _status_line_then_trickled_headers(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for byte in b"Content-Length: 2\r\nConnection: close\r\n\r\nok":
        if stop.wait(0.25):
            return
        conn.sendall(bytes([byte]))


def _status_line_then_silence(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    stop.wait(10)


def _status_line_then_reset(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    time.sleep(0.1)  # the status line is on its way before the reset
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # closing now sends a reset


@pytest.mark.timeout(30)
@pytest.mark.parametrize("answer, what", [
    (_status_line_then_trickled_headers, "its headers trickled a byte every 0.25 s, past the 1 s timeout"),
    (_status_line_then_silence, "nothing more until the timeout"),
    (_status_line_then_reset, "the connection reset right after it"),
], ids=["headers-trickled", "silence", "reset"])
def test_health_check_is_false_when_the_headers_never_finish(answer, what):
    # a half-started server: "HTTP/1.1 200 OK" arrives at once, the rest of the answer's head never does in time
    with one_raw_connection(answer) as url:
        started = time.monotonic()
        try:
            healthy = http_health_check(url, 1.0)
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - the contract is: never an exception
            pytest.fail(f"a status line 200 followed by {what} should make the probe return False, not raise {exc!r}")
        waited = time.monotonic() - started
    assert waited < 4, (
        f"the probe took {waited:.1f} s with a 1 s timeout after a status line 200 followed by {what}: the timeout "
        f"bounds the whole probe, the headers included"
    )
    assert healthy is False, (
        f"the server sent the status line 200 and then {what}, and the probe returned {healthy!r}: a 200 counts only "
        f"once the whole head of the answer (status line and headers, up to the blank line) has arrived within the "
        f"timeout, so this is unhealthy"
    )


@pytest.mark.timeout(20)
def test_health_check_uses_the_timeout_it_is_given():
    # the server answers 200 after 2.5 s: a 0.5 s probe must not see it, a 10 s probe must
    with ControlledServer("slow", delay_s=2.5) as server:
        short = http_health_check(f"{server.url}/health", 0.5)
        long = http_health_check(f"{server.url}/health", 10)
    assert short is False, "a 200 that comes after the probe's 0.5 s timeout should not count: the probe is unhealthy"
    assert long is True, "a 200 within the probe's 10 s timeout means healthy: the probe should wait that long"

"""Tasks 1 and 2: monitor.sh, run as a real process against a real HTTP server on loopback.

`server` (conftest.py) is a ControlledServer: healthy, failing (500) or slow on demand;
`server.requests` lists what it was asked.
"""

import os
import re
import time
from datetime import datetime, timezone

import pytest

from mlops_katas.infra.http_server import free_port


@pytest.fixture
def monitor(learner_file, run_bash):
    def run(*args, timeout=20, env=None):
        return run_bash(learner_file("monitor.sh"), list(args), timeout=timeout, env=env)

    return run


def health_requests(server):
    return [r for r in server.requests if r[1] == "/health"]


def give_up_lines(done):
    return [line for line in done.output.splitlines() if "giving up" in line.lower()]


# --- Task 1: one check ----------------------------------------------------------------


@pytest.mark.task(taskno=1)
def test_once_against_a_healthy_server_exits_0(monitor, server):
    done = monitor("--once", "--url", server.url)
    assert done.returncode == 0, f"a healthy /health should give exit 0\n{done.output}"
    assert health_requests(server), f"monitor.sh should GET {server.url}/health"


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("status", [204, 301, 404, 500, 503])
def test_once_against_a_failing_server_exits_1(monitor, server, status):
    server.set("failing", status=status)
    done = monitor("--once", "--url", server.url)
    assert done.returncode == 1, f"only a 200 is healthy: a {status} from /health should give exit 1\n{done.output}"
    assert "load1=" in done.stdout, (
        f"every check logs its metrics line, an unhealthy --once check too\n{done.output}")


@pytest.mark.task(taskno=1)
def test_once_against_nothing_listening_exits_1(monitor):
    done = monitor("--once", "--url", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1, f"a refused connection should give exit 1\n{done.output}"
    assert "load1=" in done.stdout, (
        f"every check logs its metrics line, one that nobody answered too\n{done.output}")


@pytest.mark.task(taskno=1)
def test_once_against_a_slow_server_gives_up_at_the_timeout(monitor, server):
    server.set("slow", delay_s=60)
    done = monitor("--once", "--timeout", "0.5", "--url", server.url, timeout=15)
    assert done.returncode == 1, f"no answer within --timeout should count as unhealthy (exit 1)\n{done.output}"
    assert done.seconds < 4, (
        f"--timeout 0.5 should give up after about half a second, not the 5 s default; took {done.seconds:.1f} s")


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("answer", ["healthy", "failing", "nothing listening"])
def test_every_log_line_is_timestamped_in_utc(monitor, server, timestamp, utc_stamped, answer):
    if answer == "failing":
        server.set("failing")
    url = f"http://127.0.0.1:{free_port()}" if answer == "nothing listening" else server.url
    started = time.time()
    done = monitor("--once", "--url", url, env=utc_stamped.env)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines, f"monitor.sh should log what it checked on stdout\n{done.output}"
    untimed = [line for line in lines if not timestamp.match(line)]
    assert not untimed, f"every log line should start with a date and time, these do not: {untimed}"
    wrong = utc_stamped(done.stdout, started, time.time())
    assert not wrong, (
        f"timestamps should be UTC whatever TZ says, on the lines about a {answer} server too "
        f"(this run had TZ={utc_stamped.env['TZ']}, 14 h east; `date -u`): {wrong}")


@pytest.mark.task(taskno=1)
def test_timestamps_use_the_24_hour_clock(monitor, server, evening_date):
    """A `date` first on PATH answers as if it were 22:30 UTC; a stamp taken some other way shows the real time."""
    started = time.time()
    done = monitor("--once", "--url", server.url, env=evening_date.env())
    finished = time.time()
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 0 and lines, f"a healthy check exits 0 and logs its lines on stdout\n{done.output}"
    wrong = evening_date.off_the_clock(done.stdout, started, finished)
    assert not wrong, (
        f"timestamps use the 24-hour clock (date -u +%H, not %I): a `date` first on PATH said it was 22:30 UTC, "
        f"so a stamp should read 22:30, not 10:30: {wrong}\n{done.output}")


@pytest.mark.task(taskno=1)
def test_a_line_is_stamped_when_it_is_written_not_when_its_check_began(monitor, server, stamp_moment):
    server.set("slow", delay_s=60)
    started = time.time()
    done = monitor("--once", "--timeout", "2.5", "--url", server.url, timeout=15)
    assert done.returncode == 1, f"no answer within --timeout 2.5 is a failure (exit 1)\n{done.output}"
    moments = [moment for line in done.stdout.splitlines() if (moment := stamp_moment(line))]
    latest = max(moments, default=None)
    assert latest is not None and latest.timestamp() >= started + 1.5, (
        f"the line saying how the check went is written when curl gave up, 2.5 s after the check began: its "
        f"timestamp should be that moment, not one taken when the check began (the latest stamp was {latest}, "
        f"the check began at {datetime.fromtimestamp(started, timezone.utc):%H:%M:%S})\n{done.output}")


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("answer", ["healthy", "failing", "nothing listening", "slow"])
def test_a_check_logs_a_health_line_and_a_metrics_line(monitor, server, answer):
    url = server.url
    if answer == "nothing listening":
        url = f"http://127.0.0.1:{free_port()}"
    elif answer == "slow":
        server.set("slow", delay_s=60)
    else:
        server.set(answer)
    done = monitor("--once", "--url", url, "--timeout", "0.5", timeout=15)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    metrics = [line for line in lines if "load1=" in line]
    others = [line for line in lines if "load1=" not in line]
    assert metrics and others, (
        f"each check logs one line about the health (a {answer} one too) and one metrics line, "
        f"found {len(others)} other line(s) and {len(metrics)} metrics line(s)\n{done.output}")


def metric(line, key):
    """The number after `key=` in a log line, or None: the value is a plain number ending at whitespace or at the end
    of the line, so `2.6unknown`, `37%` and `10.96,` read as None."""
    found = re.search(rf"\b{key}=([0-9]+(?:\.[0-9]+)?)(?=\s|$)", line)
    return float(found.group(1)) if found else None


def load1_now():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def mem_used_pct_now():
    """100 x (MemTotal - MemAvailable) / MemTotal, as the README defines it."""
    fields = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            fields[key] = int(rest.split()[0])
    return 100.0 * (fields["MemTotal"] - fields["MemAvailable"]) / fields["MemTotal"]


def meminfo(total: int, free: int, available: int, buffers: int, cached: int) -> str:
    """A /proc/meminfo with these kB figures (and the swap and slab lines `free` reads too)."""
    fields = {"MemTotal": total, "MemFree": free, "MemAvailable": available, "Buffers": buffers, "Cached": cached,
              "SwapCached": 0, "Active": cached // 2, "Inactive": cached // 2, "SwapTotal": 0, "SwapFree": 0,
              "Shmem": 0, "Slab": 0, "SReclaimable": 0, "SUnreclaim": 0}
    return "".join(f"{key + ':':<16}{value:>8} kB\n" for key, value in fields.items())


def disk_used_pct():
    """What `df -P /` reports as Use%: used / (used + available to users)."""
    st = os.statvfs("/")
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    available = st.f_bavail * st.f_frsize
    return 100.0 * used / (used + available) if used + available else 0.0


@pytest.mark.task(taskno=1)
def test_system_metrics_are_logged(monitor, server):
    loads, mems = [load1_now()], [mem_used_pct_now()]
    done = monitor("--once", "--url", server.url)
    loads.append(load1_now())
    mems.append(mem_used_pct_now())
    metrics = [line for line in done.stdout.splitlines() if "load1=" in line]
    assert metrics, f"a check should log a line with load1=... mem_used_pct=... disk_used_pct=...\n{done.output}"
    line = metrics[0]
    load1, mem, disk = (metric(line, key) for key in ("load1", "mem_used_pct", "disk_used_pct"))
    assert load1 is not None, (
        f"load1= should carry the 1-minute load average as a plain number ending at a space or the end of the line "
        f"(not `0.25,` as `uptime` prints it): {line}")
    # The kernel updates the averages every 5 s: a longer run may have seen two updates.
    slack = 0.06 if done.seconds < 4 else max(2.0, max(loads))
    assert min(loads) - slack <= load1 <= max(loads) + slack, (
        f"load1={load1} should be the 1-minute load average, the first field of /proc/loadavg "
        f"({' then '.join(f'{value:.2f}' for value in loads)} around the run), not the 5- or 15-minute one")
    assert mem is not None and 0 < mem <= 100, (
        f"mem_used_pct= should be the percentage of memory in use, a plain number ending at a space or the end of "
        f"the line: {line}")
    assert min(mems) - 3 <= mem <= max(mems) + 3, (
        f"mem_used_pct={mem} should be 100 x (MemTotal - MemAvailable) / MemTotal from /proc/meminfo "
        f"({' then '.join(f'{value:.1f}' for value in mems)} around the run); MemFree would count the page cache as used")
    assert disk is not None, (
        f"disk_used_pct= should carry the percentage of / in use as a plain number, without df's % sign "
        f"(`42`, not `42%`): {line}")
    assert abs(disk - disk_used_pct()) <= 2, (
        f"disk_used_pct={disk} should be the use of / as `df -P /` reports it ({disk_used_pct():.1f} %)")


@pytest.mark.task(taskno=1)
def test_memory_in_use_is_total_minus_available_over_total(learner_file, run_bash, server, private_proc):
    """/proc/meminfo says 1,000,000 kB in all, 700,000 available (100,000 free, 650,000 buffers and page cache):
    30 % is in use. MemFree alone would say 90 %, the old `free` formula (MemFree + Buffers + Cached) 25 %."""
    proc = private_proc(learner_file("monitor.sh"), [(meminfo(1_000_000, 100_000, 700_000, 50_000, 600_000),
                                                      "0.25 1.50 2.75 1/123 4567\n")])
    done = run_bash(proc.script, ["--once", "--url", server.url], env={"PATH": proc.path(os.environ.get("PATH"))})
    metrics = [line for line in done.stdout.splitlines() if "load1=" in line]
    assert done.returncode == 0 and metrics, f"a healthy check should exit 0 and log its metrics line\n{done.output}"
    mem, load1 = metric(metrics[0], "mem_used_pct"), metric(metrics[0], "load1")
    assert mem is not None and abs(mem - 30) <= 1, (
        f"with MemTotal 1000000 kB and MemAvailable 700000 kB, mem_used_pct should be 30 "
        f"(100 x (MemTotal - MemAvailable) / MemTotal), not {mem}: MemFree + Buffers + Cached gives 25, "
        f"MemFree alone 90\n{done.output}")
    assert load1 is not None and abs(load1 - 0.25) < 0.01, (
        f"with /proc/loadavg reading '0.25 1.50 2.75 ...', load1 should be 0.25 (its first field), not {load1}"
        f"\n{done.output}")


def other_filesystem_dir():
    """A directory on another filesystem than /, whose use `df -P` reports differently (or not at all)."""
    def used_pct(path):
        st = os.statvfs(path)
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        total = used + st.f_bavail * st.f_frsize
        return 100.0 * used / total if total else None

    root_dev, root_pct = os.stat("/").st_dev, used_pct("/")
    for candidate in ("/dev/shm", "/proc", "/dev", "/run", "/sys"):
        try:
            if os.stat(candidate).st_dev == root_dev:
                continue
            pct = used_pct(candidate)
        except OSError:
            continue
        if pct is None or abs(pct - root_pct) > 3:
            return candidate
    return None


@pytest.mark.task(taskno=1)
def test_disk_use_is_that_of_the_root_filesystem_whatever_the_working_directory(learner_file, run_bash, server):
    elsewhere = other_filesystem_dir()
    if elsewhere is None:
        pytest.skip("no directory on another filesystem than / with a different use to run from")
    done = run_bash(learner_file("monitor.sh"), ["--once", "--url", server.url], cwd=elsewhere, timeout=20)
    metrics = [line for line in done.stdout.splitlines() if "load1=" in line]
    assert metrics, f"a check should log a line with load1=... mem_used_pct=... disk_used_pct=...\n{done.output}"
    disk = metric(metrics[0], "disk_used_pct")
    assert disk is not None and abs(disk - disk_used_pct()) <= 2, (
        f"run from {elsewhere}, disk_used_pct should still be the use of / ({disk_used_pct():.1f} %, `df -P /`), "
        f"not of the working directory's filesystem (`df -P .` or plain `df`): {metrics[0]}")


@pytest.mark.task(taskno=1)
def test_the_default_timeout_is_5_seconds(learner_file, run_bash, server):
    server.set("healthy", delay_s=2.5)
    done = run_bash(learner_file("monitor.sh"), ["--once", "--url", server.url], timeout=20)
    assert done.returncode == 0, (
        f"without --timeout a request may take up to 5 s: a 200 after 2.5 s is healthy (exit 0)\n{done.output}")
    server.set("slow", delay_s=60)
    done = run_bash(learner_file("monitor.sh"), ["--once", "--url", server.url], timeout=20,
                    hint="--timeout defaults to 5 s: without it a server that never answers should be given up on "
                         "after 5 s, not 30 s or never")
    assert done.returncode == 1, (
        f"without --timeout a server that never answers is a failure after 5 s (exit 1)\n{done.output}")
    assert done.seconds < 8.5, (
        f"without --timeout a server that never answers should be given up on after 5 s, not 10; the check took "
        f"{done.seconds:.1f} s\n{done.output}")
    server.set("healthy", delay_s=5.6)
    done = run_bash(learner_file("monitor.sh"), ["--once", "--url", server.url], timeout=20)
    assert done.returncode == 1, (
        f"without --timeout a request may take 5 s and no more: a 200 after 5.6 s came too late, a failure (exit 1), "
        f"not a timeout of 6 s or more\n{done.output}")


@pytest.mark.task(taskno=1)
def test_the_default_url_is_port_8000_on_loopback(learner_file, run_bash, server, loopback_curl):
    """A `curl` first on PATH sends what was meant for http://127.0.0.1:8000 to the test server."""
    done = run_bash(learner_file("monitor.sh"), ["--once"], env=loopback_curl.env(), timeout=20)
    if not loopback_curl.calls and "curl" not in learner_file("monitor.sh").read_text():
        pytest.skip("monitor.sh does not call curl: the default --url is checked through a curl on PATH")
    assert health_requests(server) and done.returncode == 0, (
        f"without --url it should check http://127.0.0.1:8000/health (here a healthy server, so exit 0); "
        f"curl was asked for {loopback_curl.calls}\n{done.output}")


@pytest.mark.task(taskno=1)
def test_the_health_line_tells_a_failed_check_from_a_healthy_one(monitor, server, utc_stamped):
    healthy = monitor("--once", "--url", server.url)
    server.set("failing")
    failing = monitor("--once", "--url", server.url)
    assert healthy.returncode == 0 and failing.returncode == 1, (
        f"a healthy check exits 0, a failing one 1\n{healthy.output}\n{failing.output}")
    assert utc_stamped.new_lines(healthy.stdout, failing.stdout, ignoring="load1="), (
        "the line about the health should say how the check went: the failing check (a 500) logged nothing the "
        f"healthy one did not\n--- healthy ---\n{healthy.stdout}\n--- failing ---\n{failing.stdout}")


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],
        ["--bogus", "1"],
        ["extra-argument"],
        ["--interval"],
        ["--interval", "abc"],
        ["--interval", "0"],
        ["--interval", "0.0"],
        ["--interval", "-1"],
        ["--interval", "."],
        ["--interval", "1.2.3"],
        ["--interval", "00"],
        ["--timeout", "0.00"],
        ["--max-failures", "0"],
        ["--max-failures", "1.5"],
        ["--max-failures", "-1"],
        ["--max-failures", "two"],
        ["--url"],
        ["--max-failures"],
        ["--timeout"],
        ["--timeout", "soon"],
        ["--timeout", "0"],
        ["--timeout", "0.0"],
        ["--interval", "inf"],
        ["--timeout", "nan"],
        ["--timeout", "1,5"],
        ["--interval", "1x5"],
        ["--max-failures", "00"],
        ["--max-failures", "2+1"],
        ["--interval", "30s"],
        ["--interval", "1m"],
        ["--timeout", "5s"],
        ["--timeout", "1\nx"],
        ["--interval", "0.5\n5"],
        ["--max-failures", "2\n3"],
    ],
    ids=lambda a: " ".join(a).replace("\n", "\\n"),
)
def test_a_bad_argument_prints_usage_and_exits_2(monitor, server, args):
    done = monitor("--once", "--url", server.url, *args, timeout=10)
    assert done.returncode == 2, f"{' '.join(args)} should be a usage error (exit 2)\n{done.output}"
    assert "usage" in done.stderr.lower(), f"a usage error should print the usage on stderr\n{done.output}"
    assert not health_requests(server), "nothing should be checked after a usage error"


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_and_exits_0(monitor, flag):
    done = monitor(flag, timeout=10)
    assert done.returncode == 0, f"{flag} is not an error: exit 0\n{done.output}"
    assert "usage" in done.stdout.lower(), f"{flag} should print the usage on stdout\n{done.output}"


# --- Task 2: the loop ----------------------------------------------------------------


@pytest.mark.task(taskno=2)
def test_exits_1_after_max_failures_consecutive_failures(monitor, server, timestamp):
    server.set("failing")
    done = monitor("--url", server.url, "--interval", "0.5", "--max-failures", "3")
    assert done.returncode == 1, f"three failures in a row with --max-failures 3 should exit 1\n{done.output}"
    assert len(health_requests(server)) == 3, (
        f"it should give up exactly at the 3rd consecutive failure, made {len(health_requests(server))} checks"
    )
    times = [r.at for r in server.received if r.path == "/health"]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert all(gap >= 0.4 for gap in gaps), f"checks should be --interval 0.5 s apart, the gaps were {gaps}"
    metric_lines = [line for line in done.stdout.splitlines() if "load1=" in line]
    assert len(metric_lines) >= 2, (
        f"every check of the loop should log its metrics line, not only --once; found {len(metric_lines)}\n{done.output}")
    assert give_up_lines(done), (
        f"when it gives up it should log a line containing 'giving up' (stdout or stderr)\n{done.output}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    untimed = [line for line in lines if not timestamp.match(line)]
    assert not untimed, f"every stdout line of the loop, the last one too, should start with a timestamp: {untimed}"
    first, last = timestamp.match(lines[0]).group(0), timestamp.match(lines[-1]).group(0)
    assert first != last, (
        f"the last check's lines come two --interval 0.5 s pauses after the first line: their timestamp should be "
        f"the moment each line is written, not one taken at start-up ({first} on both)\n{done.output}")


@pytest.mark.task(taskno=2)
def test_the_loop_and_its_give_up_line_are_timestamped_in_utc(monitor, server, utc_stamped):
    server.set("failing")
    started = time.time()
    done = monitor("--url", server.url, "--interval", "0.1", "--max-failures", "2", env=utc_stamped.env)
    assert done.returncode == 1, f"two failures in a row with --max-failures 2 should exit 1\n{done.output}"
    wrong = utc_stamped(done.stdout, started, time.time())
    assert not wrong, (
        f"every stdout line of the loop, the 'giving up' line too, should carry the UTC time whatever TZ says "
        f"(this run had TZ={utc_stamped.env['TZ']}, 14 h east; write it with the same `date -u` logger as the "
        f"others): {wrong}\n{done.output}")


# Names a script is tempted to read its settings from; a shell or CI runner may have exported any of them.
EXPORTED_NAMES = {
    "same-names": {"interval": ["INTERVAL"], "max_failures": ["MAX_FAILURES"], "once": ["ONCE"], "url": ["URL"],
                   "timeout": ["TIMEOUT"]},
    "other-names": {
        "interval": ["MONITOR_INTERVAL", "MON_INTERVAL", "CHECK_INTERVAL", "HEALTH_INTERVAL", "INTERVAL_SECONDS"],
        "max_failures": ["MONITOR_MAX_FAILURES", "MON_MAX_FAILURES", "MAX_FAILS", "FAILURE_THRESHOLD", "MAX_FAILURE"],
        "once": ["MONITOR_ONCE", "MON_ONCE", "RUN_ONCE", "CHECK_ONCE"],
        "url": ["MONITOR_URL", "MON_URL", "HEALTH_URL", "HEALTHCHECK_URL", "SERVICE_URL", "BASE_URL", "TARGET_URL",
                "MODEL_URL", "CHECK_URL", "ENDPOINT", "MONITOR_ENDPOINT"],
        "timeout": ["MONITOR_TIMEOUT", "MON_TIMEOUT", "HEALTH_TIMEOUT", "CHECK_TIMEOUT", "CURL_TIMEOUT",
                    "TIMEOUT_SECONDS"]},
}


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("names", list(EXPORTED_NAMES.values()), ids=list(EXPORTED_NAMES))
def test_same_named_variables_in_the_environment_change_nothing(learner_file, run_bash, run_until, server,
                                                                loopback_curl, recording_sleep, names):
    """Settings exported under the names a script is tempted to use (URL, TIMEOUT, INTERVAL, MAX_FAILURES and ONCE,
    or MONITOR_URL, HEALTH_URL, ...: a shell or CI runner may have them) must not replace the documented defaults.
    A `sleep` first on PATH records the pauses and returns at once; a `curl` first on PATH sends what was meant for
    http://127.0.0.1:8000 to the test server."""
    server.set("failing")
    sleep = recording_sleep(waits=False)
    loop_vars = {**{n: "0.1" for n in names["interval"]}, **{n: "1" for n in names["max_failures"]},
                 **{n: "1" for n in names["once"]}}
    env = {**os.environ, "PATH": sleep.path(os.environ.get("PATH", "")), **loop_vars}
    run = run_until(["bash", str(learner_file("monitor.sh")), "--url", server.url], seconds=5, env=env)
    still_running, out, err = run.still_running, run.stdout, run.stderr
    checks, sleeps = len(health_requests(server)), sleep.requests()
    if not sleeps:
        # It waits some other way than `sleep`: 30 s after the first failed check, so it is still waiting.
        assert checks == 1 and still_running, (
            f"exported {loop_vars} change nothing: without --interval it waits 30 s after the first failed check, "
            f"made {checks} check(s) in 5 s and was {'still' if still_running else 'no longer'} running\n{out}{err}")
    else:
        assert checks == 3 and run.returncode == 1, (
            f"exported {loop_vars} change nothing: without --max-failures and --once it loops and gives up at the "
            f"3rd failed check (exit 1), made {checks}\n{out}{err}")
        total = sum(float(word.rstrip("s")) for word in sleeps)
        assert total == 60, (
            f"exported {loop_vars} change nothing: without --interval the two pauses are 30 s each, it asked sleep "
            f"for {' + '.join(sleeps)} s\n{out}{err}")
    server.set("healthy", delay_s=0.5)
    before = len(health_requests(server))
    dead = f"http://127.0.0.1:{free_port()}"
    check_vars = {**{n: dead for n in names["url"]}, **{n: "0.2" for n in names["timeout"]}}
    done = run_bash(learner_file("monitor.sh"), ["--once"], env=loopback_curl.env(check_vars), timeout=20)
    if not loopback_curl.calls and "curl" not in learner_file("monitor.sh").read_text():
        return  # it does not call curl: the default --url is checked through a curl on PATH
    assert len(health_requests(server)) > before and done.returncode == 0, (
        f"exported {check_vars} (nothing listens there) change nothing: without --url and --timeout it checks "
        f"http://127.0.0.1:8000/health with 5 s to answer, so a 200 after 0.5 s is healthy (exit 0); curl was asked "
        f"for {loopback_curl.calls}\n{done.output}")


@pytest.mark.task(taskno=2)
def test_gives_up_without_sleeping_another_interval(learner_file, run_bash, server):
    server.set("failing")
    done = run_bash(learner_file("monitor.sh"), ["--url", server.url, "--interval", "60", "--max-failures", "1"],
                    timeout=10, hint="when the count reaches --max-failures it should log 'giving up' and exit 1 "
                                     "at once, not sleep another --interval (60 s here) first")
    assert done.returncode == 1, (
        f"with --max-failures 1 the first failed check should end the monitor with exit 1 at once, "
        f"not after another --interval of sleep\n{done.output}")
    assert give_up_lines(done), f"it should log a line containing 'giving up'\n{done.output}"


@pytest.mark.task(taskno=2)
def test_the_default_interval_is_30_seconds(learner_file, run_until, server, recording_sleep):
    """A `sleep` first on PATH records how long the monitor asks to wait, and returns at once."""
    server.set("failing")
    sleep = recording_sleep(waits=False)
    env = {**os.environ, "PATH": sleep.path(os.environ.get("PATH", ""))}
    run = run_until(["bash", str(learner_file("monitor.sh")), "--url", server.url, "--max-failures", "2"], seconds=5,
                    env=env)
    out, err = run.stdout, run.stderr
    sleeps = sleep.requests()
    if not sleeps:
        # It waits some other way than `sleep`: then it must not have checked again within those seconds.
        assert len(health_requests(server)) == 1, (
            f"without --interval it should wait 30 s between checks, made {len(health_requests(server))} in 5 s"
            f"\n{out}{err}")
        return
    total = sum(float(word.rstrip("s")) for word in sleeps)
    assert total == 30, (
        f"without --interval it should wait 30 s between two checks, it asked sleep for {' + '.join(sleeps)} s"
        f"\n{out}{err}")


@pytest.mark.task(taskno=2)
def test_a_fractional_interval_is_slept_as_given(learner_file, run_bash, server, recording_sleep):
    """A `sleep` first on PATH records how long the monitor asks to wait, then waits that long."""
    server.set("failing")
    sleep = recording_sleep()
    env = {"PATH": sleep.path(os.environ.get("PATH", ""))}
    done = run_bash(learner_file("monitor.sh"), ["--url", server.url, "--interval", "0.2", "--max-failures", "3"],
                    env=env, timeout=20)
    assert done.returncode == 1, f"three failures in a row with --max-failures 3 should exit 1\n{done.output}"
    sleeps = sleep.requests()
    if not sleeps:
        return  # it waits some other way than `sleep`: the gaps are checked by the other tests
    total = sum(float(word.rstrip("s")) for word in sleeps)
    assert abs(total - 0.4) < 1e-6, (
        f"--interval 0.2 means two pauses of 0.2 s between the three checks (fractions count: do not round them "
        f"to whole seconds), it asked sleep for {' + '.join(sleeps)} s\n{done.output}")


@pytest.mark.task(taskno=2)
def test_gives_up_after_3_consecutive_failures_by_default(monitor, server):
    server.set("failing")
    done = monitor("--url", server.url, "--interval", "0.1")
    assert done.returncode == 1, f"failing checks without --max-failures should end the monitor with exit 1\n{done.output}"
    assert len(health_requests(server)) == 3, (
        f"--max-failures defaults to 3: it should give up at the 3rd failed check, made {len(health_requests(server))}")
    assert give_up_lines(done), f"it should log a line containing 'giving up'\n{done.output}"


@pytest.mark.task(taskno=2)
def test_only_consecutive_failures_count(monitor, server):
    server.follow(["failing", "healthy", "failing", "healthy", "failing", "failing"])
    done = monitor("--url", server.url, "--interval", "0.1", "--max-failures", "2")
    assert done.returncode == 1, f"two failures in a row should end the monitor with exit 1\n{done.output}"
    assert len(health_requests(server)) == 6, (
        "a success should reset the failure count: with answers fail, ok, fail, ok, fail, fail it should stop "
        f"after the 6th check, stopped after {len(health_requests(server))}"
    )


@pytest.mark.task(taskno=2)
def test_a_healthy_check_resets_the_failure_count_to_zero(monitor, server):
    server.follow(["failing", "failing", "healthy", "failing", "failing", "failing"])
    done = monitor("--url", server.url, "--interval", "0.1", "--max-failures", "3")
    assert done.returncode == 1, f"three failures in a row should end the monitor with exit 1\n{done.output}"
    assert len(health_requests(server)) == 6, (
        "a healthy check resets the count to zero (it does not just take one off): with answers fail, fail, ok, "
        f"fail, fail, fail and --max-failures 3 it should stop after the 6th check, stopped after "
        f"{len(health_requests(server))}\n{done.output}")


@pytest.mark.task(taskno=2)
def test_slow_answers_count_as_failures(monitor, server):
    server.set("slow", delay_s=60)
    done = monitor("--url", server.url, "--interval", "0.1", "--max-failures", "2", "--timeout", "0.3", timeout=15)
    assert done.returncode == 1, f"two timed-out checks with --max-failures 2 should exit 1\n{done.output}"
    times = [r.at for r in server.received if r.path == "/health"]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert all(gap < 3 for gap in gaps), (
        f"each check of the loop should give up after --timeout 0.3 s, not the 5 s default (--timeout holds for "
        f"every check, not only --once); the gaps between the checks were {[round(gap, 2) for gap in gaps]}"
        f"\n{done.output}")


@pytest.mark.task(taskno=2)
def test_keeps_checking_a_healthy_server_at_the_interval(learner_file, run_until, server, timestamp):
    run = run_until(["bash", str(learner_file("monitor.sh")), "--url", server.url, "--interval", "0.5"],
                    lambda: len(health_requests(server)) >= 3, seconds=15)
    still_running, out, err = run.still_running, run.stdout, run.stderr
    assert len(health_requests(server)) >= 3, (
        f"with --interval 0.5 it should check again and again; saw {len(health_requests(server))} checks\n{out}{err}"
    )
    assert still_running, f"monitor.sh should keep running while the server is healthy\n{out}{err}"
    times = [r.at for r in server.received if r.path == "/health"]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert all(gap >= 0.45 for gap in gaps), (
        f"healthy checks should also be --interval 0.5 s apart, not back to back; the gaps were {gaps}")
    metrics = [line for line in out.splitlines() if "load1=" in line]
    assert len(metrics) >= 2, (
        f"every check logs its metrics line, a healthy one too: after 3 checks found {len(metrics)}\n{out}{err}")
    health = [line for line in out.splitlines() if line.strip() and "load1=" not in line]
    assert len(health) >= 2, (
        f"every check of the loop logs a line about the health, a healthy one too (not only the failures): after "
        f"3 healthy checks found {len(health)} line(s) besides the metrics\n{out}{err}")


@pytest.mark.task(taskno=2)
def test_every_check_of_the_loop_reads_the_disk_use_afresh(learner_file, run_bash, server, tmp_path):
    """A `df` first on PATH reports / as 11 % used, then 22 %, then 33 %, one more each time it is called. Its
    device has a long name (an LVM volume): like many a `df`, it then wraps the line unless given `-P`."""
    server.set("failing")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    counter = tmp_path / "df-calls"
    (fake_bin / "df").write_text(
        "#!/bin/sh\n"
        f'n=$(( $(cat "{counter}" 2>/dev/null || echo 0) + 1 ))\n'
        f'echo "$n" > "{counter}"\n'
        'device=/dev/mapper/vg0-a-long-logical-volume-for-root\n'
        'case " $* " in\n'
        '  *" -P "*|*" --portability "*)\n'
        '    echo "Filesystem 1024-blocks Used Available Capacity Mounted on"\n'
        '    echo "$device 1000 $((n * 110)) $((1000 - n * 110)) $((n * 11))% /" ;;\n'
        '  *)\n'
        '    echo "Filesystem 1K-blocks Used Available Use% Mounted on"\n'
        '    echo "$device"\n'
        '    echo "     1000 $((n * 110)) $((1000 - n * 110)) $((n * 11))% /" ;;\n'
        'esac\n')
    (fake_bin / "df").chmod(0o755)
    env = {"PATH": f"{fake_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = run_bash(learner_file("monitor.sh"), ["--url", server.url, "--interval", "0.1", "--max-failures", "3"],
                    env=env, timeout=20)
    assert done.returncode == 1, f"three failures in a row with --max-failures 3 should exit 1\n{done.output}"
    if not counter.exists():
        return  # it reads the disk use some other way than `df`: nothing to count here
    disks = [metric(line, "disk_used_pct") for line in done.stdout.splitlines() if "load1=" in line]
    assert disks and all(disk is not None and disk > 0 and disk % 11 == 0 for disk in disks), (
        f"each check's disk use is the Capacity column of `df -P /` (11 %, 22 %, 33 %...): without -P a long device "
        f"name wraps the line and the column moves; got {disks}\n{done.output}")
    assert len(disks) >= 2 and len(set(disks)) == len(disks), (
        f"each check's metrics line should hold the disk use at that check (df -P / run again each time, here "
        f"reporting 11 %, 22 %, 33 %...), not a value read once at start-up: got {disks}\n{done.output}")


@pytest.mark.task(taskno=2)
def test_every_check_of_the_loop_reads_memory_and_load_afresh(learner_file, run_bash, server, private_proc):
    """Memory in use is 30 %, then 80 %, then 55 %, and the load 0.25, then 3.5, then 1.25: /proc/meminfo and
    /proc/loadavg move to the next reading each time the loop sleeps (the last reading stays)."""
    server.set("failing")
    readings = [(meminfo(1_000_000, 100_000, 700_000, 50_000, 600_000), "0.25 1.50 2.75 1/123 4567\n"),
                (meminfo(1_000_000, 50_000, 200_000, 20_000, 100_000), "3.50 1.75 2.80 2/123 4568\n"),
                (meminfo(1_000_000, 100_000, 450_000, 50_000, 250_000), "1.25 1.60 2.70 1/124 4569\n")]
    proc = private_proc(learner_file("monitor.sh"), readings)
    done = run_bash(proc.script, ["--url", server.url, "--interval", "0.1", "--max-failures", "4"],
                    env={"PATH": proc.path(os.environ.get("PATH"))})
    assert done.returncode == 1, f"four failures in a row with --max-failures 4 should exit 1\n{done.output}"
    lines = [line for line in done.stdout.splitlines() if "load1=" in line]
    mems = [metric(line, "mem_used_pct") for line in lines]
    loads = [metric(line, "load1") for line in lines]
    # The check that gives up may log its metrics or not.
    assert len(lines) >= 3 and all(m is not None and abs(m - want) <= 1 for m, want in zip(mems, [30, 80, 55, 55])), (
        f"each check's mem_used_pct should be read from /proc/meminfo at that check (30, then 80, then 55 here), "
        f"not once at start-up: got {mems}\n{done.output}")
    assert all(load is not None and abs(load - want) < 0.01 for load, want in zip(loads, [0.25, 3.5, 1.25, 1.25])), (
        f"each check's load1 should be read from /proc/loadavg at that check (0.25, then 3.5, then 1.25 here), "
        f"not once at start-up: got {loads}\n{done.output}")


@pytest.mark.task(taskno=1)
def test_a_redirect_to_a_page_answering_200_is_not_healthy(monitor, redirecting_server):
    done = monitor("--once", "--url", redirecting_server.url)
    assert done.returncode == 1, (
        "only a 200 from /health itself is healthy: a 302 to a login page answering 200 (a proxy in front of a "
        f"dead service) is a failure, so do not follow redirects (no curl --location)\n{done.output}")


@pytest.mark.task(taskno=1)
def test_the_timeout_is_not_rounded_to_whole_seconds(monitor, server):
    server.set("healthy", delay_s=1.55)
    done = monitor("--once", "--timeout", "1.1", "--url", server.url, timeout=15)
    assert done.returncode == 1, (
        "a 200 that comes 1.55 s after the request is past --timeout 1.1: a failure; pass the fraction to "
        f"curl --max-time as it is, do not round it up to whole seconds\n{done.output}")


@pytest.mark.task(taskno=2)
def test_a_refused_connection_counts_as_a_failure_in_the_loop(monitor, loopback_curl):
    """A `curl` first on PATH records when each check was made (nothing listens, so no server sees them)."""
    done = monitor("--url", f"http://127.0.0.1:{free_port()}", "--interval", "1", "--max-failures", "2",
                   timeout=15, env=loopback_curl.env())
    assert done.returncode == 1, (
        "with nothing listening every check fails (a refused connection is a failure, in the loop too): "
        f"--max-failures 2 should end the monitor with exit 1\n{done.output}")
    assert give_up_lines(done), f"it should log a line containing 'giving up'\n{done.output}"
    gaps = loopback_curl.health_gaps
    assert all(gap >= 0.9 for gap in gaps), (
        f"refused checks should be --interval 1 s apart like any others, not retried at once; the gaps between "
        f"the checks were {[round(gap, 2) for gap in gaps]}\n{done.output}")


@pytest.mark.task(taskno=2)
def test_max_failures_with_a_leading_zero_is_decimal(monitor, server):
    server.set("failing")
    done = monitor("--url", server.url, "--interval", "0.05", "--max-failures", "010", timeout=20)
    checks = len(health_requests(server))
    if done.returncode == 2:
        assert checks == 0, f"a usage error should come before any check, made {checks}"
        return
    assert done.returncode == 1, f"ten failures in a row with --max-failures 010 should exit 1\n{done.output}"
    assert checks == 10, (
        f"--max-failures 010 is ten (or a usage error), not octal 8: it gave up after {checks} checks; "
        f"bash reads a leading 0 as octal in $((...)), so write 10#$n\n{done.output}")


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("count", ["18446744073709551618", "9999999999999999999"], ids=["20-digits", "19-digits"])
def test_a_max_failures_too_big_for_shell_arithmetic_does_not_wrap_around(learner_file, run_until, server, count):
    """18446744073709551618 is 2**64 + 2: bash arithmetic on it silently wraps to 2. 9999999999999999999 has only 19
    digits but is past 2**63 - 1 too: it wraps to a negative count, so a `>=` test gives up at the first failure."""
    server.set("failing")
    run = run_until(["bash", str(learner_file("monitor.sh")), "--url", server.url, "--interval", "0.05",
                     "--max-failures", count], lambda: len(health_requests(server)) > 2, seconds=8)
    out, err = run.stdout, run.stderr
    checks = len(health_requests(server))
    if run.returncode == 2:
        assert checks == 0, f"a usage error should come before any check, made {checks}\n{out}{err}"
        return
    assert checks > 2, (
        f"--max-failures {count} is too big for shell arithmetic (past 2**63 - 1, so 19 digits may already be too "
        f"many): refuse it (usage error, exit 2) or never give up, but it must not wrap around to a small or negative "
        f"count; it made {checks} failed check(s) and exited with {run.returncode}; check the number of digits "
        f"(at most 18 are always safe) before any $((10#$n))\n{out}{err}")

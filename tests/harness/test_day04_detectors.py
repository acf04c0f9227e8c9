"""The day-04 tests' own detectors (init-container waits, servers, pinned tags) against each form its README names.

They check the tests, not a learner's files: in the kata they would pass on the stubs and count as done."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mlops_katas.curriculum import find_root

_SPEC = importlib.util.spec_from_file_location(
    "day04_test_manifests", find_root(Path(__file__).parent) / "katas" / "day04" / "test_manifests.py")
day04 = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(day04)


@pytest.mark.parametrize("kind, command", [
    ("peer", ["python", "-c", "import socket, time\nwhile True:\n    try:\n        sock = socket.socket()\n"
                              "        sock.connect(('redis', 6379))\n        break\n    except OSError:\n"
                              "        time.sleep(2)\n"]),
    ("peer", ["python", "-c", "import socket, time\nwhile True:\n    try:\n"
                              "        socket.socket(socket.AF_INET).connect(ADDRESS)\n        break\n"
                              "    except OSError:\n        time.sleep(2)\n"]),
    ("peer", ["python", "-c", "import redis, time\nwhile True:\n    try:\n"
                              "        redis.Redis(host='redis').ping()\n        break\n    except Exception:\n"
                              "        time.sleep(2)\n"]),
    ("peer", ["python", "-c", "import psycopg2, time\nwhile True:\n    try:\n"
                              "        psycopg2.connect(host='db').close()\n        break\n"
                              "    except Exception:\n        time.sleep(2)\n"]),
    ("peer", ["sh", "-c", "until redis-cli -h feature-store -p 6379 PING; do sleep 2; done"]),
    ("peer", ["sh", "-c", "until redis-cli -h feature-store get ready; do sleep 2; done"]),
    ("peer", ["sh", "-c", "until pg_isready -h feature-db -p 5432; do sleep 2; done"]),
    ("peer", ["bash", "-c", "until (echo > /dev/tcp/feature-store/6379) 2>/dev/null; do sleep 2; done"]),
    ("peer", ["sh", "-c", "until nc -z redis 6379; do sleep 2; done"]),
    ("peer", ["sh", "-c", "until nslookup redis; do sleep 2; done"]),
    ("peer", ["sh", "-c", "until psql -h feature-db -U reader -d features -c '\\q'; do sleep 2; done"]),
    ("peer", ["sh", "-c", "until mysql -h feature-db -e 'SELECT 1'; do sleep 2; done"]),
    ("peer", ["sh", "-c", "until kcat -b kafka:9092 -L; do sleep 2; done"]),
    ("forever", ["sh", "-c", "while true; do sleep 5; done"]),
    ("forever", ["sh", "-c", "while :; do sleep 5; done"]),
    ("forever", ["sh", "-c", "while [ true ]; do sleep 5; done"]),
    ("forever", ["sh", "-c", "while [ 1 -eq 1 ]; do sleep 5; done"]),
    ("forever", ["sh", "-c", "while /bin/true; do sleep 5; done"]),
    ("forever", ["sh", "-c", "while sleep 60; do echo alive; done"]),
    ("peer", ["sh", "-c", "for i in $(seq 1 30); do nc -z feature-store 6379 && exit 0; sleep 2; done; exit 1"]),
    ("peer", ["sh", "-c", "for i in 1 2 3 4 5; do if wget -q -O- http://redis:6379; then exit 0; fi; sleep 2; "
                          "done; exit 1"]),
    ("peer", ["sh", "-c", "until python -c \"__import__('socket').create_connection(('feature-store', 6379), 2)\"; "
                          "do sleep 2; done"]),
    ("peer", ["sh", "-c", "while ! python3 -c \"import socket; socket.create_connection(('redis', 6379))\"; "
                          "do sleep 2; done"]),
    ("peer", ["python", "-c", "import socket, sys, time\nfor _ in range(30):\n    try:\n"
                              "        socket.create_connection(('redis', 6379), 2)\n        sys.exit(0)\n"
                              "    except OSError:\n        time.sleep(2)\nsys.exit(1)\n"]),
    ("peer", ["sh", "-c", "while true; do nc -z redis 6379 && break; sleep 2; done"]),
    ("forever", ["sh", "-c", "tail -n +1 -F /var/log/app.log"]),
    ("forever", ["sh", "-c", "tail -n0 -f /dev/null"]),
    ("forever", ["sh", "-c", "tail -fn0 /dev/null"]),
    ("forever", ["python", "-c", "import time\nwhile 1:\n    time.sleep(60)\n"]),
    ("server", ["fluent-bit", "-i", "cpu", "-o", "stdout"]),
    ("server", ["/fluent-bit/bin/fluent-bit", "-c", "/fluent-bit/etc/fluent-bit.conf"]),
    ("server", ["envoy", "-c", "/etc/envoy/envoy.yaml"]),
    ("server", ["nginx", "-g", "daemon off;"]),
    ("server", ["redis-server", "--port", "6379"]),
    ("server", ["/otelcol-contrib", "--config", "/etc/otelcol/config.yaml"]),
    ("server", ["otelcol", "--config=/etc/otelcol/config.yaml"]),
    ("server", ["gunicorn", "-b", "0.0.0.0:9000", "app:app"]),
    ("server", ["uvicorn", "app:app", "--port", "9000"]),
    ("server", ["/bin/prometheus", "--config.file=/etc/prometheus/prometheus.yml"]),
    ("server", ["python", "-m", "http.server", "9000"]),
    ("server-args", ["/fluent-bit/bin/fluent-bit", "-i", "cpu", "-o", "stdout"]),
    ("server", ["exec", "envoy", "-c", "/etc/envoy/envoy.yaml"]),
    ("server", ["sh", "-c", "exec nginx -g 'daemon off;'"]),
    ("server", ["/bin/sh", "-c", "exec python3 -m http.server 9000"]),
    ("peer", ["python", "-c", "import socket, time\nwhile socket.socket().connect_ex(('redis', 6379)) != 0:\n"
                              "    time.sleep(2)\n"]),
    ("peer", ["python", "-c", "import requests, time\nwhile requests.get('http://redis:6379/').status_code != 200:\n"
                              "    time.sleep(2)\n"]),
    ("forever", ["sh", "-c", "while true; do [ -f /logs/access.log ] && break; sleep 1; done; "
                             "tail -n +1 -F /logs/access.log"]),
    ("forever", ["sh", "-c", "while true; do\n  for f in /tmp/*.log; do [ -e \"$f\" ] || break; gzip \"$f\"; done\n"
                             "  sleep 60\ndone\n"]),
    ("forever", ["python", "-c", "import glob, time\nwhile True:\n    for f in glob.glob('/tmp/*.log'):\n"
                                 "        break\n    time.sleep(60)\n"]),
    ("server", ["/bin/sh", "-c", "mkdir -p /tmp/flb-storage && exec /fluent-bit/bin/fluent-bit -c /etc/fb.conf"]),
    ("server", ["sh", "-c", "envsubst < /seed/nginx.conf > /etc/nginx/nginx.conf && exec nginx -g 'daemon off;'"]),
    ("server", ["sh", "-c", "set -e\nmkdir -p /cache\nredis-server --port 6380\n"]),
    ("peer", ["sh", "-c", "until /usr/bin/curl -sf http://feature-store/healthz; do echo waiting; sleep 2; done"]),
    ("peer", ["sh", "-c", "until /bin/nc -z redis 6379; do sleep 2; done"]),
    ("peer", ["sh", "-c", "for i in $(seq 1 30); do ./pg_isready -h db && exit 0; sleep 2; done; exit 1"]),
    ("peer", ["python", "-c", "import os, time\nfrom sqlalchemy import create_engine\nfor _ in range(30):\n    try:\n"
                              "        create_engine(os.environ['DATABASE_URL']).connect()\n        break\n"
                              "    except Exception:\n        time.sleep(2)\n"]),
    ("peer", ["python", "-c", "import time\nwhile True:\n    try:\n        engine.connect()\n        break\n"
                              "    except Exception:\n        time.sleep(2)\n"]),
    ("peer", ["python", "-c", "import pymysql, time\nfor _ in range(30):\n    try:\n"
                              "        pymysql.connect(host='mysql').close()\n        break\n"
                              "    except Exception:\n        time.sleep(2)\n"]),
    ("peer", ["python", "-c", "import time\nfrom pymongo import MongoClient\nwhile True:\n    try:\n"
                              "        MongoClient('mongodb://mongo:27017').admin.command('ping')\n        break\n"
                              "    except Exception:\n        time.sleep(2)\n"]),
    ("forever", ["python", "-c", "import signal; print('exec in to inspect'); signal.pause()"]),
    ("forever", ["python", "-c", "import http.server\nhttp.server.HTTPServer(('', 9100), "
                                 "http.server.SimpleHTTPRequestHandler).serve_forever()\n"]),
    ("sleep", ["python", "-c", "import time; print('exec in to inspect'); time.sleep(3600)"]),
    ("sleep", ["python3", "-c", "from time import sleep\nsleep(60 * 60 * 24)\n"]),
    ("sleep", ["sh", "-c", "sleep 1h"]),
    ("server", ["python", "-m", "uvicorn", "exporter:app", "--host", "0.0.0.0", "--port", "9100"]),
    ("server", ["python3", "-u", "-m", "gunicorn", "-b", "0.0.0.0:9100", "exporter:app"]),
    ("server", ["sh", "-c", "mkdir -p /tmp/buf && FLB_LOG_LEVEL=info fluent-bit -c /fluent-bit/etc/fluent-bit.conf"]),
    ("server", ["/usr/bin/dumb-init", "--", "/fluent-bit/bin/fluent-bit", "-c", "/fluent-bit/etc/fluent-bit.conf"]),
    ("server", ["tini", "-s", "--", "nginx", "-g", "daemon off;"]),
    ("server", ["env", "ENVOY_UID=0", "envoy", "-c", "/etc/envoy/envoy.yaml"]),
    ("server", ["sh", "-c", "nohup redis-server --port 6380"]),
    ("peer", ["sh", "-c", "until grpcurl -plaintext feature-store:6566 list; do sleep 2; done"]),
    ("peer", ["sh", "-c", "until kafka-topics.sh --bootstrap-server kafka:9092 --list; do sleep 2; done"]),
], ids=["sock-connect", "socket-socket-connect", "redis-ping", "psycopg2-connect", "redis-cli-PING",
        "redis-cli-get", "pg_isready", "dev-tcp", "nc-z", "nslookup", "psql", "mysql", "kcat",
        "while-true", "while-colon",
        "while-bracket-true", "while-1-eq-1", "while-bin-true", "while-sleep", "for-seq-nc-retry",
        "for-list-wget-retry", "until-python-c", "while-not-python-c", "python-for-range",
        "while-true-nc-break", "tail-n-plus-1-F", "tail-n0-f", "tail-fn0", "python-while-1", "fluent-bit",
        "fluent-bit-path",
        "envoy", "nginx", "redis-server", "otelcol-contrib", "otelcol", "gunicorn", "uvicorn", "prometheus",
        "python-m-http-server", "args-only", "exec", "sh-c-exec", "sh-c-exec-python", "python-while-connect-ex",
        "python-while-requests-get", "wait-then-tail-F", "nested-for-break", "python-nested-for-break",
        "sh-c-mkdir-then-fluent-bit", "sh-c-envsubst-then-nginx", "sh-c-lines-then-redis-server",
        "curl-by-path", "nc-by-path", "pg_isready-by-relative-path", "sqlalchemy-create-engine-connect",
        "engine-connect", "pymysql-connect", "mongo-client", "python-signal-pause", "python-serve-forever",
        "python-time-sleep-hour", "python-sleep-a-day", "sleep-1h", "python-m-uvicorn", "python-u-m-gunicorn",
        "env-prefix-fluent-bit", "dumb-init-fluent-bit", "tini-nginx", "env-envoy", "nohup-redis-server",
        "grpcurl", "kafka-topics"])
def test_init_container_checks_catch_each_form_the_readme_names(kind, command):
    script = " ".join(command)
    if kind.startswith("server"):
        found = day04._server_command({"args" if kind == "server-args" else "command": command})
    elif kind == "sleep":
        found = _long_sleep(script)
    else:
        found = day04._waits_for_a_peer(script) if kind == "peer" else day04._never_ends(script)
    what = {"peer": "a wait for a peer the files do not create", "forever": "a loop that never ends",
            "sleep": "a sleep of an hour or more"}.get(
        kind, "a long-running server")
    assert found is not None, \
        f"the init-container checks should see {what} in {script!r}, but they found nothing in it"


def _long_sleep(script):
    """The first sleep of an hour or more the init-container checks see in a script, or None."""
    return next((sleep for sleep, seconds in day04._sleeps(script) if seconds >= day04.LONG_SLEEP_S), None)

@pytest.mark.parametrize("command", [
    ["sh", "-c", "for f in /seed/*; do cp \"$f\" /cache/; done"],
    ["sh", "-c", "for i in 1 2 3; do echo waiting for the host $i; sleep 1; done"],
    ["python", "-c", "import pathlib\nfor name in ('a', 'b'):\n    pathlib.Path('/cache', name).mkdir()\n"],
    ["python", "-c", "import pathlib; pathlib.Path('/cache/warm').mkdir(parents=True, exist_ok=True)"],
    ["nginx", "-t"],
    ["sh", "-c", "cp /seed/nginx.conf /etc/nginx/ && nginx -t"],
    ["envoy", "--mode", "validate", "-c", "/etc/envoy/envoy.yaml"],
    ["tail", "-n", "5", "/seed/log.txt"],
    ["sh", "-c", "while true; do [ -f /seed/ready ] && break; sleep 1; done; cat /seed/ready"],
    ["sh", "-c", "while true; do for f in /seed/*; do [ -e /seed/done ] && break 2; done; sleep 1; done"],
    ["sh", "-c", "while true; do for f in /seed/*; do [ -e /seed/done ] && exit 0; done; sleep 1; done"],
    ["sh", "-c", "while true; do for f in /seed/*; do cp \"$f\" /cache/ || break; done; [ -e /seed/done ] && break; "
                 "sleep 1; done"],
    ["python", "-c", "import os, time\nwhile not os.path.exists('/seed/ready'):\n    time.sleep(1)\n"],
    ["sh", "-c", "cd /etc/nginx && nginx -t; echo checked"],
    ["sh", "-c", "echo 'start nginx; fluent-bit later' && ls /tmp"],
    ["sh", "-c", "while true; do [ -f /seed/ready ] && break; sleep 1; done; /usr/bin/curl --version"],
    ["sh", "-c", "while [ ! -e /seed/host ]; do sleep 1; done"],
    ["python", "-c", "import time; print('warming the cache'); time.sleep(5)"],
    ["python", "-c", "import sqlite3\nfor name in ('a', 'b'):\n    sqlite3.connect(f'/cache/{name}.db').close()\n"],
    ["python", "-m", "pip", "install", "--target", "/cache", "requests==2.32.3"],
    ["python3", "-m", "compileall", "/cache"],
    ["/usr/bin/dumb-init", "--", "sh", "-c", "cp /seed/* /cache/"],
    ["env", "LANG=C", "nginx", "-t"],
    ["sh", "-c", "FLB_LOG_LEVEL=info fluent-bit --dry-run -c /fluent-bit/etc/fluent-bit.conf"],
], ids=["for-cp", "for-echo-host", "python-for-mkdir", "python-one-shot", "nginx-t", "sh-nginx-t",
        "envoy-validate", "tail-n-5", "while-true-break-then-cat", "nested-break-2", "nested-exit",
        "outer-break-after-nested", "python-while-not-exists", "sh-cd-then-nginx-t", "echo-server-names",
        "while-true-break-then-curl-version", "while-not-file-named-host", "python-short-sleep",
        "python-for-sqlite-connect", "python-m-pip", "python-m-compileall", "dumb-init-sh-cp", "env-nginx-t",
        "env-prefix-fluent-bit-dry-run"])
def test_init_container_checks_leave_a_command_that_finishes_alone(command):
    script = " ".join(command)
    found = {"a wait for a peer": day04._waits_for_a_peer(script), "a loop that never ends": day04._never_ends(script),
             "a long-running server": day04._server_command({"command": command}),
             "a sleep of an hour or more": _long_sleep(script)}
    seen = {what: (match if isinstance(match, str) else match.group(0)) for what, match in found.items() if match}
    assert not seen, \
        f"{script!r} finishes on its own and waits for nobody, but the init-container checks saw {seen} in it"

@pytest.mark.parametrize("tag, moves", [
    ("1", True), ("v2", True), ("1-slim", True), ("v2-amd64", True), ("3-alpine", True), ("v1-cpu", True),
    ("1.0-slim", False), ("1.0.0-cpu", False), ("build-417-slim", False), ("1.0.0", False),
])
def test_a_major_version_tag_moves_even_with_a_variant_after_it(tag, moves):
    image = f"ghcr.io/acme/model-server:{tag}"
    try:
        day04._assert_pinned(image, "the image")
        refused = None
    except AssertionError as error:
        refused = str(error)
    if moves:
        assert refused is not None, \
            (f"the tag {tag!r} is a major version with at most a variant after it, which moves to every release of "
             "that major version, but the pinning check accepted it")
    else:
        assert refused is None, f"the tag {tag!r} names one build, but the pinning check refused it: {refused}"


@pytest.mark.parametrize("args, serves", [
    (None, True), (["-c", "/fluent-bit/etc/fluent-bit.conf"], True), (["--dry-run", "-c", "/etc/fb.conf"], False),
    (["--version"], False), (["sh", "-c", "cp /seed/fluent-bit.conf /shared/"], False),
])
def test_a_server_image_given_only_options_still_serves(args, serves):
    container = {"image": "fluent/fluent-bit:3.0.7"} | ({"args": args} if args is not None else {})
    assert bool(day04._runs_a_server_image(container)) is serves, \
        (f"fluent/fluent-bit with args {args!r} {'still runs its server' if serves else 'runs no server'}, "
         f"but the check says it {'does not' if serves else 'does'}")


@pytest.mark.parametrize("value, moves", [
    ("iris-2024-06-01", True), ("model-server-20240601", True), ("iris_20240601T1200", True),
    ("model-server-1.4.2", True), ("iris_1.2.0", True), ("iris_v1.2.0", True), ("iris-v3", True), ("model_v12", True),
    ("model-server", False), ("web-2", False), ("app-2024", False), ("feature-store-12345678", False),
    ("model_server", False), ("iris_2", False),
])
def test_a_label_value_ending_in_a_version_or_date_changes_each_release(value, moves):
    what = "ends in a version or date, which changes each release" if moves else "names no release"
    assert bool(day04.ENDS_IN_VERSION.fullmatch(value)) is moves, \
        f"the label value {value!r} {what}, but the check {'missed it' if moves else 'flagged it'}"


@pytest.mark.parametrize("image, serves", [
    ("nginxinc/nginx-unprivileged:1.27.0-alpine", True),
    ("public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.2", True),
    ("nginx:1.27.0", True), ("grafana/alloy:v1.3.0", True), ("busybox:1.36.1", False), ("ghcr.io/acme/nginx-config-check:1.0.0", False),
])
def test_a_server_image_built_another_way_still_serves(image, serves):
    assert bool(day04._runs_a_server_image({"image": image})) is serves, \
        (f"{image} with no command {'runs its server' if serves else 'runs no server'}, "
         f"but the check says it {'does not' if serves else 'does'}")

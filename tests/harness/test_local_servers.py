"""Redis, Prometheus and Alertmanager started for a test: ready, answering, gone afterwards."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request

import pytest

from mlops_katas.infra import local_server, prometheus, redis_server
from mlops_katas.infra.local_server import LABEL_ENV, labelled_pids

from .reaping import reaped

needs_redis = pytest.mark.skipif(redis_server.probe() is not None, reason=str(redis_server.probe()))
needs_prometheus = pytest.mark.skipif(prometheus.probe() is not None, reason=str(prometheus.probe()))


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@needs_redis
def test_redis_server_answers_and_leaves_nothing_behind():
    import redis

    with redis_server.RedisServer() as server:
        client = redis.Redis.from_url(server.url, socket_timeout=5)
        client.set("card:1", "x", ex=60)
        assert client.get("card:1") == b"x" and client.ttl("card:1") > 0
        assert labelled_pids(LABEL_ENV, server.label), "the server's process carries its label"
        folder, port = server.dir, server.port
    assert not folder.exists() and not _port_open(port), "stopped and its folder removed"
    assert labelled_pids(LABEL_ENV, str(folder)) == []


@needs_redis
def test_each_redis_server_starts_empty(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server.url, socket_timeout=5)
    assert client.dbsize() == 0, "no state is shared between tests"


@needs_redis
def test_a_killed_runs_server_is_reaped():
    """A pytest process that dies without stopping its server: the next run kills and removes it."""
    code = ("import os\nfrom mlops_katas.infra.redis_server import RedisServer\n"
            "server = RedisServer().start()\nprint(server.dir, server.port, flush=True)\nos._exit(0)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    folder, port = done.stdout.split()
    assert _port_open(int(port)), "the orphaned server is still running"
    removed = local_server.reap()
    assert reaped(os.path.basename(folder), removed, lambda: not os.path.exists(folder)), f"not reaped: {removed}"
    assert not _port_open(int(port)) and not os.path.exists(folder)


@needs_prometheus
def test_prometheus_loads_rules_and_promtool_checks_them(start_prometheus, tmp_path):
    rules = ("groups:\n- name: t\n  rules:\n  - record: job:up:sum\n    expr: sum(up)\n")
    (tmp_path / "rules.yml").write_text(rules)
    checked = prometheus.promtool("check", "rules", tmp_path / "rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    server = start_prometheus("global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs: []\n",
                              rule_files={"rules.yml": rules})
    with urllib.request.urlopen(server.url + "/api/v1/rules", timeout=10) as answer:
        groups = json.load(answer)["data"]["groups"]
    assert [g["name"] for g in groups] == ["t"]


@needs_prometheus
@pytest.mark.skipif(prometheus.alertmanager_binary() is None, reason="no alertmanager binary")
def test_alertmanager_starts_and_answers(start_alertmanager):
    server = start_alertmanager("route:\n  receiver: none\nreceivers:\n- name: none\n")
    with urllib.request.urlopen(server.url + "/api/v2/status", timeout=10) as answer:
        assert answer.status == 200


def test_a_server_that_exits_at_once_fails_with_its_log():
    class Broken(local_server.LocalServer):
        kind = "broken"

        def command(self, port):
            return [sys.executable, "-c", "import sys; print('bad config line 3'); sys.exit(3)"]

        def answers(self):
            return False

    with pytest.raises(local_server.ServerFailed, match="bad config line 3"):
        with Broken():
            pass

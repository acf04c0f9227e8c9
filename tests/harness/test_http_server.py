"""The controlled HTTP server tests probe: where it listens."""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

from mlops_katas.infra.http_server import ControlledServer
_first_ephemeral_port = lambda: 32768


def test_a_controlled_server_listens_below_the_ephemeral_range():
    """Ports other tests found free come from the ephemeral range: their probes must never reach it."""
    with ControlledServer() as server:
        port = urlsplit(server.url).port
        with urllib.request.urlopen(server.url + "/health", timeout=5) as answer:
            assert answer.status == 200, "the server answers on the port it names"
    assert port < _first_ephemeral_port(), f"port {port} is in the ephemeral range"
    assert server.requests == [("GET", "/health")]

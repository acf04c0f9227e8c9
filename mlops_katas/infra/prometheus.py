"""Prometheus and Alertmanager on loopback, and promtool, for the prometheus tier.

Debian's `prometheus` package gives `prometheus` and `promtool`; its
`prometheus-alertmanager` package gives `prometheus-alertmanager` (upstream's
`alertmanager`). The tier needs prometheus and promtool; Alertmanager is looked up
by either name where a test needs it. The servers are `LocalServer`s: their own
folder for config and data, labelled, bounded waits, always stopped.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from ..tools import find_tool
from .local_server import LocalServer

INSTALL_HINT = "install Debian's prometheus package (apt-get install prometheus); 'katas doctor'"
ALERTMANAGER_NAMES = ("alertmanager", "prometheus-alertmanager")
PROMTOOL_TIMEOUT_S = 60
ALERTMANAGER_HINT = "install Debian's prometheus-alertmanager package (apt-get install prometheus-alertmanager)"


def probe() -> str | None:
    """None when prometheus and promtool are here, else why not and how to get them."""
    missing = [name for name in ("prometheus", "promtool") if find_tool(name) is None]
    if missing:
        return f"{' and '.join(missing)} not found; {INSTALL_HINT}"
    return None


def alertmanager_binary() -> str | None:
    return next((path for path in map(find_tool, ALERTMANAGER_NAMES) if path), None)


def promtool(*args: str | Path, timeout: float = PROMTOOL_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run `promtool ARGS` with a timeout; the caller reads returncode, stdout and stderr."""
    return subprocess.run([find_tool("promtool") or "promtool", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, check=False)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


class PrometheusServer(LocalServer):
    """`with PrometheusServer(config_yaml, rule_files={name: text}) as prom:` serves on `prom.url`.

    The config may name the rule files by their bare names: they are written beside it.
    """

    kind = "prometheus"
    ready_wait_s = 60.0

    def __init__(self, config: str, rule_files: dict[str, str] | None = None) -> None:
        super().__init__()
        (self.dir / "prometheus.yml").write_text(config)
        for name, text in (rule_files or {}).items():
            (self.dir / name).write_text(text)

    def command(self, port: int) -> list[str]:
        return [find_tool("prometheus") or "prometheus",
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address={self.host}:{port}",
                "--web.enable-lifecycle", "--log.level=warn"]

    def answers(self) -> bool:
        return _http_ok(self.url + "/-/ready")


class AlertmanagerServer(LocalServer):
    """`with AlertmanagerServer(config_yaml) as am:` serves its API on `am.url`."""

    kind = "alertmanager"
    ready_wait_s = 60.0

    def __init__(self, config: str) -> None:
        super().__init__()
        (self.dir / "alertmanager.yml").write_text(config)

    def command(self, port: int) -> list[str]:
        binary = alertmanager_binary() or "alertmanager"
        # A free cluster port is not needed: gossip is off for a single instance.
        return [binary, f"--config.file={self.dir / 'alertmanager.yml'}",
                f"--storage.path={self.dir / 'data'}",
                f"--web.listen-address={self.host}:{port}", "--cluster.listen-address=",
                "--log.level=warn"]

    def answers(self) -> bool:
        return _http_ok(self.url + "/-/ready")

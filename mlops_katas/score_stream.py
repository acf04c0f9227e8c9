"""The scored run's report stream: each test's outcome, signed, sent to the scorer's process.

`katas score` runs a day with this plugin (`-p mlops_katas.score_stream`) and reads the
outcomes from a pipe, never from a file in the day's folder, so learner code that
rewrites result files, replaces the harness's recorder or exits early cannot raise its
score: every record carries a sequence number and an HMAC under a key the scorer hands
over on a second pipe, which the plugin reads and closes before any test module (and
so any learner code) is imported. A forged, reordered or missing record, or a run that
ends without the closing record, is seen by the scorer and scores the day 0.
"""

from __future__ import annotations

import json
import os

import pytest

from .scoring import KEY_FD_ENV, STREAM_FD_ENV, sign

MESSAGE_LIMIT = 500


class _Stream:
    def __init__(self, stream_fd: int, key: bytes) -> None:
        self._out = os.fdopen(stream_fd, "wb", buffering=0)
        self._key = key
        self._seq = 0

    def send(self, record: dict) -> None:
        payload = json.dumps({**record, "seq": self._seq}, sort_keys=True).encode()
        self._seq += 1
        self._out.write(sign(self._key, payload).encode() + b" " + payload + b"\n")

    def close(self) -> None:
        self._out.close()


def _read_key(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 64):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


_stream: _Stream | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    global _stream
    stream_fd, key_fd = os.environ.pop(STREAM_FD_ENV, None), os.environ.pop(KEY_FD_ENV, None)
    if stream_fd is None or key_fd is None:
        raise pytest.UsageError("mlops_katas.score_stream is loaded only by 'katas score'")
    _stream = _Stream(int(stream_fd), _read_key(int(key_fd)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _stream is None:
        return
    message = report.longreprtext[-MESSAGE_LIMIT:] if report.failed else None
    if report.skipped and isinstance(report.longrepr, tuple):
        message = str(report.longrepr[2])[:MESSAGE_LIMIT]
    _stream.send({"kind": "report", "nodeid": report.nodeid, "when": report.when,
                  "outcome": report.outcome, "message": message})


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _stream is not None:
        _stream.send({"kind": "finish", "exitstatus": int(exitstatus)})
        _stream.close()

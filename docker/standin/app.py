"""Serves the day-03 HTTP contract, or fails on purpose, as APP_MODE says.

healthy: answers at once. broken: starts, but /health answers 500.
slow: every answer takes SLOW_S seconds (default 1).
crash: logs an error and exits 3 at start-up (with a restart policy: a crash loop).
oom: allocates memory until the kernel's OOM killer ends it.
APP_VERSION is the model_version it reports; APP_PORT the port it listens on (8000).
"""

import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = os.environ.get("APP_MODE", "healthy")
VERSION = os.environ.get("APP_VERSION", "dev")
SLOW_S = float(os.environ.get("SLOW_S", "1.0"))


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        sys.stdout.write("%s %s\n" % (self.address_string(), format % args))

    def _answer(self, status, body):
        if MODE == "slow":
            time.sleep(SLOW_S)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health" and MODE == "broken":
            self._answer(500, {"error": "model failed to load"})
        elif self.path == "/health":
            self._answer(200, {"status": "ok", "model_version": VERSION})
        elif self.path == "/ready":
            self._answer(200, {"ready": True})
        else:
            self._answer(404, {"error": f"no route {self.path}"})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/predict":
            self._answer(200, {"predictions": [0], "model_version": VERSION})
        else:
            self._answer(404, {"error": f"no route {self.path}"})


def main():
    print(f"starting model server (APP_MODE={MODE}, APP_VERSION={VERSION})")
    if MODE == "crash":
        print("ERROR: could not load model: /models/model.joblib not found", file=sys.stderr)
        sys.exit(3)
    if MODE == "oom":
        print("loading model into memory")
        blocks = []
        while True:
            blocks.append(b"x" * (4 * 2**20))
    # As PID 1 a process gets no default SIGTERM action: without this, `docker stop` waits 10 s.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("APP_PORT", "8000"))), Handler).serve_forever()


if __name__ == "__main__":
    main()

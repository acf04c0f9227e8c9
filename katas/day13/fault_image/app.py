"""Serves the day-03 HTTP contract, or fails on purpose, as the FAULT variable says.

healthy: answers at once. slow: every answer takes SLOW_S seconds (default 1).
crash: logs an error and exits 3 at start-up (with a restart policy: a crash loop).
oom: allocates memory until the kernel's OOM killer ends it.
"""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULT = os.environ.get("FAULT", "healthy")
SLOW_S = float(os.environ.get("SLOW_S", "1.0"))


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        sys.stdout.write("%s %s\n" % (self.address_string(), format % args))

    def _answer(self, status, body):
        if FAULT == "slow":
            time.sleep(SLOW_S)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self._answer(200, {"status": "ok", "model_version": "fault-1"})
        elif self.path == "/ready":
            self._answer(200, {"ready": True})
        else:
            self._answer(404, {"error": "no route"})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/predict":
            self._answer(200, {"predictions": [0], "model_version": "fault-1"})
        else:
            self._answer(404, {"error": "no route"})


def main():
    print(f"starting model server (FAULT={FAULT})")
    if FAULT == "crash":
        print("ERROR: could not load model: /models/model.joblib not found", file=sys.stderr)
        sys.exit(3)
    if FAULT == "oom":
        print("loading model into memory")
        blocks = []
        while True:
            blocks.append(b"x" * (4 * 2**20))
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()


if __name__ == "__main__":
    main()

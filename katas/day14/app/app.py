"""Answers `GET /health` with the day-03 body on APP_PORT (8000 unless a build says otherwise)."""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "dev")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        status, body = (200, {"status": "ok", "model_version": VERSION}) if self.path == "/health" else (
            404, {"error": f"no route {self.path}"})
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        sys.stderr.write(f"{self.command} {self.path}\n")


if __name__ == "__main__":
    # As PID 1 a process gets no default SIGTERM action: without this, `docker stop` waits 10 s.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("APP_PORT", "8000"))), Handler).serve_forever()

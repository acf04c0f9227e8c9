"""Answers the day-03 `/health` contract on port 8000; `APP_MODE=broken` answers 500 instead."""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "dev")
BROKEN = os.environ.get("APP_MODE") == "broken"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/health":
            status, body = 404, {"error": f"no route {self.path}"}
        elif BROKEN:
            status, body = 500, {"error": "model failed to load"}
        else:
            status, body = 200, {"status": "ok", "model_version": VERSION}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        sys.stderr.write(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else '?'}\n")


# As PID 1 a process gets no default SIGTERM action: without this, `docker stop` waits 10 s.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()

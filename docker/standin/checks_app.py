"""The app's own tests, run inside the image by the pipeline's test step."""

import json
import threading
import unittest
import urllib.request
from http.server import ThreadingHTTPServer

from app import Handler


class HealthTest(unittest.TestCase):
    def test_health_answers_ok(self):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/health", timeout=5) as answer:
                self.assertEqual(json.load(answer)["status"], "ok")
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    unittest.main()

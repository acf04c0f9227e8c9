"""Request bodies sent in chunks, the way a WSGI server hands them to the application.

A body sent with `Transfer-Encoding: chunked` has no Content-Length; gunicorn then sets
`wsgi.input_terminated` and leaves the size limit to the application. These helpers make
Flask's test client do the same, so the days that serve `/predict` (03, 17) check their
1 MiB limit the way production traffic meets it.
"""

from __future__ import annotations

import io

CHUNKED = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}


def post_chunked(client, path: str, stream):
    """POST what `stream` (a readable binary file object) yields, in chunks, without a Content-Length."""
    return client.post(path, headers=CHUNKED,
                       environ_overrides={"wsgi.input": stream, "wsgi.input_terminated": True})


class EndlessUpload(io.RawIOBase):
    """A chunked upload of `size` bytes, `piece` over and over, produced as it is read; counts what was read."""

    def __init__(self, piece: bytes, size: int):
        self.piece, self.left, self.read_bytes = piece, size, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        count = min(len(buffer), self.left, len(self.piece))
        buffer[:count] = self.piece[:count]
        self.left -= count
        self.read_bytes += count
        return count

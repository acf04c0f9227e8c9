"""Request bodies sent in chunks, the way a WSGI server hands them to the application.

A body sent with `Transfer-Encoding: chunked` has no Content-Length; gunicorn then sets
`wsgi.input_terminated` and leaves the size limit to the application. These helpers make
Flask's test client do the same, so the days that serve `/predict` (03, 17) check their
1 MiB limit the way production traffic meets it.
"""

from __future__ import annotations

import io

CHUNKED = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
MiB = 1024 * 1024
# Two ways a body passes 1 MiB: a reader that stops at the limit sees cut-off JSON in the
# first (a 400 is an honest answer too), a whole valid request in the second.
OVERSIZED_SHAPES = ("rows past the limit", "valid JSON padded past the limit")


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


def oversized_body(shape: str, row: str) -> tuple[bytes, tuple[int, ...], str]:
    """A `{"features": [...]}` body over 1 MiB of one of `OVERSIZED_SHAPES` (`row` a JSON row),
    the statuses that refuse it, and why in words for an assertion message."""
    if shape == "rows past the limit":
        body = '{"features": [' + ",".join([row] * (MiB // len(row) + 10)) + "]}"
        return body.encode(), (400, 413), "413, or 400 for the cut-off JSON"
    if shape == "valid JSON padded past the limit":
        body = ('{"features": [' + row + "]}").encode() + b" " * (2 * MiB)
        return body, (413,), "413: cut at 1 MiB it would still be valid JSON, so only a size check refuses it"
    raise ValueError(f"unknown shape {shape!r}: one of {OVERSIZED_SHAPES}")

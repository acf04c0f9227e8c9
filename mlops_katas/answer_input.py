"""Reading what a learner types, a line at a time, with an optional deadline.

A mock interview has a clock, so reading may not block past it. Three cases:
- a terminal with a deadline: the line is edited here, in cbreak mode, so the remaining
  time can be redrawn in front of it every second (a live countdown);
- any other file descriptor (a terminal without a deadline, a pipe, a file): lines are
  read with `select`, so a deadline still ends the wait; no redraw;
- a stream without a descriptor (tests hand in a StringIO): plain `readline`, and the
  deadline is checked against the injected clock after each line.
End of input (Ctrl-D, a closed pipe) and a passed deadline are exceptions carrying what
was typed so far, so the caller can keep it.
"""

from __future__ import annotations

import codecs
import io
import os
import select
import shutil
import sys
from collections.abc import Callable
from typing import TextIO

REDRAW_S = 0.25
BACKSPACE = ("\x7f", "\x08")
KILL_LINE = "\x15"  # Ctrl-U
END_OF_TEXT = "\x04"  # Ctrl-D


class EndOfInput(Exception):
    def __init__(self, partial: str = "") -> None:
        super().__init__("end of input")
        self.partial = partial


class TimeUp(Exception):
    def __init__(self, partial: str = "") -> None:
        super().__init__("time is up")
        self.partial = partial


def clock_text(seconds: float) -> str:
    seconds = max(int(seconds + 0.999), 0)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class LineReader:
    def __init__(self, stream: TextIO, clock: Callable[[], float], out: TextIO | None = None) -> None:
        self.stream = stream
        self.clock = clock
        self.out = out or sys.stdout
        try:
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            self.fd = None
        self.live = self.fd is not None and os.isatty(self.fd)
        self._pending = b""  # bytes read past the last line (descriptor reading)
        self._ahead = ""  # characters typed past the last Enter (terminal editing)

    def line(self, deadline: float | None = None) -> str:
        """The next line without its newline; EndOfInput or TimeUp with the partial line.
        Input that is not typed at a terminal is echoed, so the transcript reads as a dialogue."""
        if self.live:
            return self._edited(deadline) if deadline is not None else self._from_fd(None)
        text = self._from_stream(deadline) if self.fd is None else self._from_fd(deadline)
        self.out.write(text + "\n")
        self.out.flush()
        return text

    def _from_stream(self, deadline: float | None) -> str:
        text = self.stream.readline()
        if not text:
            raise EndOfInput()
        text = text.rstrip("\r\n")
        if deadline is not None and self.clock() >= deadline:
            raise TimeUp(text)
        return text

    def _from_fd(self, deadline: float | None) -> str:
        self._pending, self._ahead = self._ahead.encode() + self._pending, ""
        while b"\n" not in self._pending:
            if deadline is not None:
                left = deadline - self.clock()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    raise TimeUp(self._take(len(self._pending)))
            chunk = os.read(self.fd, 4096)
            if not chunk:
                if self._pending:
                    return self._take(len(self._pending))
                raise EndOfInput()
            self._pending += chunk
        return self._take(self._pending.index(b"\n") + 1)

    def _take(self, count: int) -> str:
        data, self._pending = self._pending[:count], self._pending[count:]
        return data.decode("utf-8", errors="replace").rstrip("\r\n")

    def _edited(self, deadline: float) -> str:
        import termios
        import tty

        saved = termios.tcgetattr(self.fd)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        typed: list[str] = []
        escape = False
        try:
            tty.setcbreak(self.fd)
            while True:
                chars, self._ahead = self._ahead, ""
                if not chars:
                    left = deadline - self.clock()
                    self._draw(left, "".join(typed))
                    if left <= 0:
                        self._commit("".join(typed))
                        raise TimeUp("".join(typed))
                    if not select.select([self.fd], [], [], min(REDRAW_S, left))[0]:
                        continue
                    chunk = os.read(self.fd, 1024)
                    if not chunk:
                        raise EndOfInput("".join(typed))
                    chars = decoder.decode(chunk)
                for index, char in enumerate(chars):
                    if escape:  # skip arrow keys and other escape sequences
                        escape = not (char.isalpha() or char == "~")
                    elif char == "\x1b":
                        escape = True
                    elif char in "\r\n":
                        self._ahead = chars[index + 1:]  # typed ahead: the next line's start
                        self._commit("".join(typed))
                        return "".join(typed)
                    elif char in BACKSPACE:
                        typed[-1:] = []
                    elif char == KILL_LINE:
                        typed.clear()
                    elif char == END_OF_TEXT and not typed:
                        self._commit("")
                        raise EndOfInput()
                    elif char.isprintable():
                        typed.append(char)
        finally:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)

    def _draw(self, left: float, typed: str) -> None:
        prefix = f"⏱ {clock_text(left)} › "
        room = max(shutil.get_terminal_size().columns - len(prefix) - 1, 10)
        self.out.write(f"\r\x1b[K{prefix}{typed[-room:]}")
        self.out.flush()

    def _commit(self, typed: str) -> None:
        self.out.write(f"\r\x1b[K  {typed}\n")
        self.out.flush()

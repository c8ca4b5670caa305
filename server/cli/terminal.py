"""The operator's terminal: every line the CLI writes, and every log line it formats, passes
`terminal_safe` on its way out (`out`, `err`, `SafeFormatter`).

Remote actors choose much of what the CLI shows: usernames, follow-request messages, post
text, URIs, the error strings their servers answer with. Written raw, `ESC ] 0 ; … BEL`
retitles the terminal, `ESC [ 2 J` clears it, other sequences move the cursor to overwrite
earlier lines or make some terminals type an answer into the shell. So control characters
never reach the terminal:

- C0 controls and DEL, except newline and tab: notices on stderr and log tracebacks have
  several lines (`out` writes one line, so there a newline becomes a space). Carriage
  return goes too, since it lets a line overwrite itself.
- C1 controls (U+0080 to U+009F): U+009B is CSI and U+009D is OSC on terminals that read them.
- Bidi embeddings, overrides and isolates (U+202A to U+202E, U+2066 to U+2069), which reorder the
  rest of a line ("Trojan Source", CVE-2021-42574). Plain marks (LRM, RLM) stay.
- Lone surrogates (from JSON `\\ud800` escapes) become U+FFFD; written as they are, they
  raise `UnicodeEncodeError` halfway through a listing.

Characters are removed, not the sequences they start, so the visible text stays.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from typing import TextIO

_REMOVED = [
    *(c for c in range(0x20) if chr(c) not in "\t\n"),
    0x7F,
    *range(0x80, 0xA0),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_SAFE: dict[int, str | None] = {
    **dict.fromkeys(_REMOVED),
    **dict.fromkeys(range(0xD800, 0xE000), "\ufffd"),
}


# Any character `_SAFE` changes; text without one (nearly every line) is returned as it is,
# which costs a tenth of `str.translate` (every access-log line passes here).
_UNSAFE = re.compile("[" + "".join(f"\\u{c:04x}" for c in (*_REMOVED, 0xD800)) + "-\\udfff]")


def terminal_safe(text: str) -> str:
    """`text` without the characters that control a terminal (see the module docstring);
    newlines and tabs are kept."""
    if text.isascii() and text.isprintable():  # no control character at all: most lines
        return text
    if _UNSAFE.search(text) is None:
        return text
    return text.translate(_SAFE)


def out(text: str = "") -> None:
    """One line on stdout. Newlines in `text` become spaces, so that text from elsewhere (a
    follow-request message) cannot add lines that look like more entries of a listing."""
    sys.stdout.write(terminal_safe(text).replace("\n", " ") + "\n")


def err(text: str) -> None:
    """Text on stderr, as given (the caller ends its lines)."""
    sys.stderr.write(terminal_safe(text))


class SafeFormatter(logging.Formatter):
    """A log formatter whose lines, traceback included, are `terminal_safe`: log messages
    carry remote URIs and errors.

    The date part of `asctime` is formatted once per second, not for every line (every
    request writes an access-log line: `strftime` was a fifth of its cost)."""

    _second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None or self.default_msec_format is None:
            return super().formatTime(record, datefmt)
        return self.stamp(record.created)

    def stamp(self, created: float) -> str:
        """`asctime` of a record created at `created` (`time.time()`), as logging writes it."""
        second = int(created)
        cached, text = self._second
        if cached != second:
            text = time.strftime(self.default_time_format, self.converter(second))
            self._second = (second, text)  # one assignment: threads log too
        return f"{text},{int((created - second) * 1000):03d}"


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""Every line the CLI logs (`server.cli.main`)."""


class DirectLines:
    """Info lines of one busy logger (the access log: one per request) written straight to
    the CLI's one log handler, formatted as it formats them, and those of one turn of the
    event loop in one write: through `logging` (record, handler lock, format, write,
    flush) a line cost 7 % of an inbox 202. Only while logging is configured as the CLI
    leaves it (`usable`); otherwise the caller logs as usual."""

    def __init__(self, handler: logging.StreamHandler[TextIO], formatter: SafeFormatter) -> None:
        self._handler = handler
        self._formatter = formatter
        self._pending: list[tuple[float, logging.Logger, str]] = []

    def usable(self, logger: logging.Logger) -> bool:
        """Whether `logger`'s info lines would reach only our handler, unfiltered, as
        `LOG_FORMAT` formats them."""
        handler = self._handler
        if not (
            logging.root.handlers == [handler]
            and handler.formatter is self._formatter
            and self._formatter._fmt == LOG_FORMAT
            and handler.level <= logging.INFO
            and not handler.filters
            and not logger.filters
            and logger.isEnabledFor(logging.INFO)
        ):
            return False
        node: logging.Logger | None = logger
        while node is not None and node is not logging.root:  # up to the root, unchanged
            if node.handlers or not node.propagate:
                return False
            node = node.parent
        return True

    def write(self, logger: logging.Logger, message: str) -> None:
        """Queue one info line of `logger`; it is written once the loop turn ends, by this
        writer while `usable` (asked once per turn, not per line), else through `logging`."""
        self._pending.append((time.time(), logger, message))
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        lines = []
        usable: dict[logging.Logger, bool] = {}
        stamp = self._formatter.stamp
        for created, logger, message in pending:
            ok = usable.get(logger)
            if ok is None:
                ok = usable[logger] = self.usable(logger)
            if ok:
                # Only the message can hold what a peer chose; cleaned without the newline,
                # a line passes `terminal_safe`'s first test (`isprintable`), not its regex.
                lines.append(f"{stamp(created)} INFO {logger.name}: {terminal_safe(message)}\n")
            else:  # logging configured otherwise since: the line goes the usual way
                logger.info(message)
        if not lines:
            return
        handler = self._handler
        handler.acquire()
        try:
            handler.stream.write("".join(lines))
            handler.stream.flush()
        except Exception:  # what logging does with a line it cannot write
            handler.handleError(logging.makeLogRecord({"msg": lines[0].rstrip("\n")}))
        finally:
            handler.release()

"""Incremental Server-Sent Events parsing, with a receive timestamp per event.

Written here rather than taken from httpx-sse because timing needs the moment each event's last
byte arrived (``perf_counter_ns`` at the read that completed it), and the parser must accept
events split across reads, several events in one read, ``\\r\\n`` / ``\\r`` line ends and comments.
"""

from __future__ import annotations

import json
import time
from typing import Any

DONE = "[DONE]"


class Event:
    """One dispatched event. A plain class with slots: one is built per streamed token, and a
    frozen dataclass's ``__init__`` costs several times as much."""

    __slots__ = ("data", "event", "received_ns")

    def __init__(self, data: str, event: str | None, received_ns: int):
        self.data, self.event, self.received_ns = data, event, received_ns

    def __repr__(self) -> str:
        return f"Event(data={self.data!r}, event={self.event!r}, received_ns={self.received_ns})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and (self.data, self.event, self.received_ns) == (
            other.data, other.event, other.received_ns)

    @property
    def done(self) -> bool:
        return self.data == DONE

    def json(self) -> Any:
        return json.loads(self.data)


class SSEParser:
    """Works on bytes and decodes only complete lines: a multi-byte character (CJK text is three
    bytes per character in UTF-8) split across two network reads is whole by the time its line
    ends, and the common read (one ``data: ...\n\n`` event, no ``\r``) costs one split."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event: str | None = None
        self._pending_cr = False

    def feed(self, chunk: bytes | str, received_ns: int | None = None) -> list[Event]:
        """Parse what arrived; return the events it completed, stamped ``received_ns``."""
        received_ns = time.perf_counter_ns() if received_ns is None else received_ns
        data = chunk.encode() if isinstance(chunk, str) else chunk
        if (not self._buffer and not self._data and self._event is None and not self._pending_cr
                and data.startswith(b"data: ") and data.endswith(b"\n\n")
                and data.count(b"\n") == 2 and b"\r" not in data):
            # What vLLM sends, one event per read: no line machinery needed.
            return [Event(data[6:-2].decode("utf-8", errors="replace"), None, received_ns)]
        if self._pending_cr and data.startswith(b"\n"):
            data = data[1:]  # the \n of a \r\n split across two reads
        self._pending_cr = data.endswith(b"\r")
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        events = []
        for line in lines:
            event = self._line(line.decode("utf-8", errors="replace"), received_ns)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str, received_ns: int) -> Event | None:
        if line == "":  # blank line: dispatch
            if not self._data:
                self._event = None
                return None
            event = Event("\n".join(self._data), self._event, received_ns)
            self._data, self._event = [], None
            return event
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

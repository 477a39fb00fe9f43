"""Incremental Server-Sent Events parsing, with a receive timestamp per event.

Written here rather than taken from httpx-sse because timing needs the moment each event's last
byte arrived (``perf_counter_ns`` at the read that completed it), and the parser must accept
events split across reads, several events in one read, ``\\r\\n`` / ``\\r`` line ends and comments.
"""

from __future__ import annotations

import codecs
import json
import time
from dataclasses import dataclass
from typing import Any

DONE = "[DONE]"


@dataclass(frozen=True)
class Event:
    data: str
    event: str | None
    received_ns: int

    @property
    def done(self) -> bool:
        return self.data == DONE

    def json(self) -> Any:
        return json.loads(self.data)


class SSEParser:
    def __init__(self) -> None:
        self._buffer = ""
        self._data: list[str] = []
        self._event: str | None = None
        self._pending_cr = False
        # One decoder for the whole stream: a multi-byte character (CJK text is three bytes per
        # character in UTF-8) split across two network reads must wait for its last byte, not
        # become U+FFFD on each side.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, chunk: bytes | str, received_ns: int | None = None) -> list[Event]:
        """Parse what arrived; return the events it completed, stamped ``received_ns``."""
        received_ns = time.perf_counter_ns() if received_ns is None else received_ns
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]  # the \n of a \r\n split across two reads
        self._pending_cr = text.endswith("\r")
        self._buffer += text.replace("\r\n", "\n").replace("\r", "\n")
        events = []
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            event = self._line(line, received_ns)
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

"""A small synchronous OpenAI-compatible client for functional checks (the smoke suite).

It sends what the tests say and returns the server's JSON untouched (for streams, the parsed
chunks). Timed streaming for measurements is ``transport/streaming.py``. It knows nothing of pytest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from .http import TIMEOUTS, ServerError, sync_client
from .sse import SSEParser

__all__ = ["Client", "ServerError", "Stream"]


@dataclass
class Stream:
    chunks: list[dict] = field(default_factory=list)

    @property
    def usage(self) -> dict | None:
        """The last usage the stream reported (the final chunk carries the totals)."""
        for chunk in reversed(self.chunks):
            if chunk.get("usage"):
                return chunk["usage"]
        return None

    def token_ids(self) -> list[int]:
        ids: list[int] = []
        for chunk in self.chunks:
            for choice in chunk.get("choices") or []:
                ids.extend(choice.get("token_ids") or [])
        return ids


class Client:
    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 timeout: httpx.Timeout = TIMEOUTS["generation"]):
        self.model = model
        self._http = sync_client(base_url, api_key, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def get(self, path: str) -> httpx.Response:
        return self._http.get(path)

    def post(self, path: str, payload: dict[str, Any]) -> dict:
        body = {"model": self.model, **payload}
        response = self._http.post(path, json=body)
        if response.status_code != 200:
            raise ServerError(f"POST {path} -> {response.status_code}: {response.text[:500]}")
        return response.json()

    def stream(self, path: str, payload: dict[str, Any]) -> Stream:
        body = {
            "model": self.model,
            **payload,
            "stream": True,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        }
        result, parser = Stream(), SSEParser()
        with self._http.stream("POST", path, json=body) as response:
            if response.status_code != 200:
                response.read()
                raise ServerError(f"POST {path} (stream) -> {response.status_code}: "
                                  f"{response.text[:500]}")
            for raw in response.iter_raw():
                for event in parser.feed(raw):
                    if event.done:
                        return result
                    payload_json = event.json()
                    if "error" in payload_json:
                        raise ServerError(f"POST {path} (stream) sent an error event: "
                                          f"{event.data[:500]}")
                    result.chunks.append(payload_json)
        raise ServerError(f"POST {path} (stream) ended without [DONE] after "
                          f"{len(result.chunks)} chunks")

"""The fault proxy over real HTTP, in front of a small upstream that streams like vLLM."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import httpx
import pytest

from conftest import http_server
from pytest_ascend_oss.selfcheck import proxy

EVENTS = [{"choices": [{"delta": {"role": "assistant", "content": ""}}]},
          *({"choices": [{"delta": {"content": w}, "token_ids": [i]}]}
            for i, w in enumerate(["The", " code", " is", " 42."]))]


class Upstream(BaseHTTPRequestHandler):
    seen_auth: ClassVar[list[str]] = []

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self._send(200, b'{"data": [{"id": "m"}]}', "application/json")

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Upstream.seen_auth.append(self.headers.get("authorization", ""))
        if not body.get("stream"):
            answer = {"choices": [{"message": {"content": "The code is 42."},
                                   "token_ids": [0, 1, 2, 3]}]}
            self._send(200, json.dumps(answer).encode(), "application/json")
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        for event in EVENTS:
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True

    def _send(self, status, data, kind):
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def upstream():
    with http_server(Upstream) as url:
        yield url


def _stream(url: str) -> tuple[list[bytes], float]:
    started = time.monotonic()
    first = None
    lines = []
    with httpx.stream("POST", f"{url}/v1/chat/completions", json={"stream": True},
                      headers={"Authorization": "Bearer k"}, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("data: {") and '"token_ids"' in line and first is None:
                first = time.monotonic() - started
            if line:
                lines.append(line)
    return lines, first


def test_stream_cut_ends_the_stream_without_done(upstream):
    with proxy.serving(upstream, "stream-cut") as url:
        lines, _ = _stream(url)
    assert lines[-1] != "data: [DONE]" and sum('"token_ids"' in ln for ln in lines) == 2


def test_first_token_delay_holds_the_first_token_and_passes_the_key(upstream):
    with proxy.serving(upstream, "first-token-delay", 0.3) as url:
        lines, first = _stream(url)
        assert httpx.get(f"{url}/v1/models").json() == {"data": [{"id": "m"}]}
    assert first >= 0.3 and lines[-1] == "data: [DONE]"
    assert Upstream.seen_auth[-1] == "Bearer k"


def test_http_500_bursts_answer_the_burst_requests_only(upstream):
    with proxy.serving(upstream, "http-500-bursts") as url:
        codes = [httpx.post(f"{url}/v1/chat/completions", json={}).status_code
                 for _ in range(10)]
    assert codes == [200] * 4 + [500] * 3 + [200] * 3


def test_always_7842_rewrites_a_whole_answer(upstream):
    with proxy.serving(upstream, "always-7842") as url:
        answer = httpx.post(f"{url}/v1/chat/completions", json={}).json()
    assert answer["choices"][0]["message"]["content"] == "The secret code is 7842."


def test_a_launched_fault_is_not_a_proxy_fault(upstream):
    with pytest.raises(ValueError, match="unknown proxy fault 'perturbed-weights'"):
        proxy.build_app(upstream, "perturbed-weights")

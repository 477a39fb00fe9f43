"""A chat server that answers the built-in capitals set, for the project's own accuracy tests.

``serving(answers, fail=set())`` runs it in a thread on a free loopback port. ``answers`` maps
a question (the user message) to the reply; the reply's length in words stands in for its
completion tokens and grows with the request's reasoning effort (low 1x, medium 2x, high 3x);
requests whose question is in ``fail`` get HTTP 500. Every request body is kept in
``Quiz.requests`` so a test can count what was asked.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from pytest_ascend_oss.server import in_thread

EFFORT_WEIGHT = {"low": 1, "medium": 2, "high": 3}


class Quiz:
    def __init__(self, answers: dict[str, str], fail: set[str] | None = None):
        self.answers, self.fail, self.requests = answers, fail or set(), []

    def app(self) -> Starlette:
        async def chat(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            question = body["messages"][-1]["content"]
            if question in self.fail:
                return Response('{"error": "boom"}', 500, media_type="application/json")
            reply = self.answers.get(question, "I do not know.")
            tokens = len(reply.split()) * EFFORT_WEIGHT[body.get("reasoning_effort", "low")]

            async def events():
                def chunk(payload: dict) -> str:
                    return f"data: {json.dumps(payload)}\n\n"
                yield chunk({"choices": [{"index": 0, "delta": {"reasoning_content": "hm"}}]})
                yield chunk({"choices": [{"index": 0, "delta": {"content": reply}}]})
                yield chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 9, "completion_tokens": tokens,
                                       "total_tokens": 9 + tokens}})
                yield "data: [DONE]\n\n"
            return StreamingResponse(events(), media_type="text/event-stream")

        return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


@contextlib.contextmanager
def serving(quiz: Quiz) -> Iterator[str]:
    with in_thread.serving(quiz.app(), "quiz") as url:
        yield url

"""Tool calling as a client uses it: each case asks for one call of one tool among those
offered; the call must parse, validate against the tool's JSON schema, carry the asked values
and end the turn (finish_reason "tool_calls") with no JSON left in the content. Each case runs
k times at gpt-oss's recommended sampling (temperature 1.0, top_p 1.0): pass@k (some sample
right) and pass^k (every sample right), and the count of invalid calls, as OpenAI's gpt-oss
implementation check reports them (the profile's ``tool_temperature`` may differ for a model
whose sampling distribution is not calibrated, and says why). Then the turns around a call: streamed calls reassembled,
a follow-up carrying the tool's result, ``tool_choice: "none"``, and a three-turn conversation.
"""

from __future__ import annotations

import json
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources

import jsonschema

from ...gptoss.tools import FUNCTIONS, chat_tools
from ...transport.client import Client, ServerError
from ...transport.vllm import reasoning_of

TOP_P = 1.0
RECOMMENDED_TEMPERATURE = 1.0   # gpt-oss's recommended sampling: temperature 1, top_p 1
MAX_TOKENS = 512                                # room for the analysis before the call
EFFORT = "low"
# JSON that should have been a call: an object opening in the content.
_JSON_IN_CONTENT = re.compile(r"\{\s*\"")
HARMONY_MARKUP = ("<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|return|>",
                  "<|call|>", "<|constrain|>")


@dataclass(frozen=True)
class Case:
    id: str
    tool: str
    prompt: str
    expect: dict
    # the prompt words a value otherwise than the call writes it ("250 euros" for EUR)
    converts: bool = False


def load_cases(tools: list[str], converting: bool = True) -> list[Case]:
    """The shipped cases whose tool is among ``tools`` (the profile's ``tool_tools``); those
    that need a value converted only if ``converting`` (the profile's
    ``tool_converting_cases``)."""
    text = (resources.files("pytest_ascend_oss") / "data" / "tool_cases.json").read_text("utf-8")
    cases = [Case(**c) for c in json.loads(text)["cases"] if c["tool"] in tools]
    return [c for c in cases if converting or not c.converts]


def same_value(expected, got) -> bool:
    """Strings case- and space-insensitively, numbers within 1e-6, lists as sets, objects key
    by key (keys the case does not name are the schema's business). A string qualified after
    a comma or in brackets names the same thing: a real gpt-oss-20b may well ask for
    "Toronto, Canada" or "San Francisco, CA" where the canary copies "Toronto"."""
    if isinstance(expected, dict):
        return isinstance(got, dict) and all(k in got and same_value(v, got[k])
                                             for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(got, list) and sorted(map(_norm, expected)) == sorted(map(_norm, got))
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return isinstance(got, (int, float)) and not isinstance(got, bool) \
            and math.isclose(expected, got, abs_tol=1e-6)
    if isinstance(expected, str) and isinstance(got, str):
        want, have = _norm(expected), _norm(got)
        return have == want or have.startswith((want + ",", want + " ("))
    return _norm(expected) == _norm(got)


def _norm(value) -> str:
    return " ".join(str(value).split()).casefold()


@dataclass
class Attempt:
    ok: bool
    problem: str | None = None
    invalid: bool = False     # a call whose arguments do not parse or do not fit the schema
    call: dict | None = None


def judge_call(case: Case, message: dict, finish_reason: str | None) -> Attempt:
    calls = message.get("tool_calls") or []
    content = message.get("content") or ""
    if len(calls) != 1:
        return Attempt(False, f"expected one {case.tool} call, got {len(calls)} "
                              f"(content {content[:120]!r})")
    function = calls[0].get("function") or {}
    call = {"name": function.get("name"), "arguments": function.get("arguments")}
    if call["name"] != case.tool:
        return Attempt(False, f"called {call['name']!r}, not {case.tool!r}", call=call)
    try:
        arguments = json.loads(call["arguments"] or "")
    except ValueError as exc:
        return Attempt(False, f"arguments are not JSON ({exc}): {call['arguments']!r}",
                       invalid=True, call=call)
    try:
        jsonschema.validate(arguments, FUNCTIONS[case.tool]["parameters"])
    except jsonschema.ValidationError as exc:
        return Attempt(False, f"arguments do not fit the schema: {exc.message}", invalid=True,
                       call=call)
    if not same_value(case.expect, arguments):
        return Attempt(False, f"arguments {arguments} are not the asked {case.expect}", call=call)
    if finish_reason != "tool_calls":
        return Attempt(False, f"finish_reason {finish_reason!r}, not 'tool_calls'", call=call)
    if _JSON_IN_CONTENT.search(content):
        return Attempt(False, f"JSON left in the content: {content[:120]!r}", call=call)
    return Attempt(True, call=call)


def ask(client: Client, messages: list[dict], tools: list[str], **extra) -> tuple[dict, str]:
    answer = client.post("/v1/chat/completions", {
        "messages": messages, "tools": chat_tools(tools), "max_tokens": MAX_TOKENS,
        "reasoning_effort": EFFORT, **extra})
    choice = answer["choices"][0]
    return choice["message"], choice["finish_reason"]


def _attempt(client: Client, case: Case, tools: list[str], temperature: float, seed: int
             ) -> Attempt:
    try:
        message, finish = ask(client, [{"role": "user", "content": case.prompt}], tools,
                              temperature=temperature, top_p=TOP_P, seed=seed)
    except ServerError as exc:  # the server refusing a tool request is a failed attempt
        return Attempt(False, f"request failed: {exc}", invalid=True)
    return judge_call(case, message, finish)


@dataclass
class CaseResult:
    case: Case
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(a.ok for a in self.attempts)


def sample(client: Client, cases: list[Case], tools: list[str], k: int,
           temperature: float = RECOMMENDED_TEMPERATURE, workers: int = 8) -> list[CaseResult]:
    """Every case ``k`` times at ``temperature``, ``workers`` requests in flight (the server
    batches them, as it would a client's). Sample i of a case carries vLLM's per-request
    ``seed`` i: k different draws, and a rerun against the same server draws the same ones, so
    a verdict can be reproduced (another host's kernels may still round differently)."""
    results = [CaseResult(c) for c in cases]
    jobs = [(r, r.case, i) for r in results for i in range(k)]
    with ThreadPoolExecutor(workers) as pool:
        for (result, _, _), attempt in zip(jobs, pool.map(
                lambda j: _attempt(client, j[1], tools, temperature, j[2]), jobs)):
            result.attempts.append(attempt)
    return results


def summary(results: list[CaseResult], k: int, temperature: float | None = None) -> dict:
    n = len(results)
    return {
        "cases": n, "k": k, "temperature": temperature,
        "pass_at_k": sum(r.passed > 0 for r in results) / n if n else None,
        "pass_all_k": sum(r.passed == k for r in results) / n if n else None,
        "invalid_calls": sum(a.invalid for r in results for a in r.attempts),
        "attempts": n * k,
        "failures": [{"case": r.case.id, "problem": a.problem}
                     for r in results for a in r.attempts if not a.ok][:20],
    }


def reassemble(chunks: list[dict]) -> tuple[list[dict], str | None, str]:
    """Streamed ``tool_calls`` deltas put together by index, as an OpenAI client does; also
    the finish reason and the streamed content."""
    calls: dict[int, dict] = {}
    finish, content = None, ""
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content += delta.get("content") or ""
            for part in delta.get("tool_calls") or []:
                call = calls.setdefault(part.get("index", 0), {"name": "", "arguments": ""})
                function = part.get("function") or {}
                call["name"] += function.get("name") or ""
                call["arguments"] += function.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return [calls[i] for i in sorted(calls)], finish, content


def streamed_matches(client: Client, case: Case, tools: list[str]) -> dict:
    """Greedy, once streamed and once not: the same call (name and parsed arguments)."""
    body = {"messages": [{"role": "user", "content": case.prompt}], "tools": chat_tools(tools),
            "max_tokens": MAX_TOKENS, "reasoning_effort": EFFORT, "temperature": 0.0}
    whole = client.post("/v1/chat/completions", body)["choices"][0]
    streamed, finish, content = reassemble(client.stream("/v1/chat/completions", body).chunks)
    plain = [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
             for c in whole["message"].get("tool_calls") or []]

    def parsed(calls):
        try:
            return [(c["name"], json.loads(c["arguments"])) for c in calls]
        except ValueError:
            return None

    same = bool(plain) and parsed(plain) is not None and parsed(plain) == parsed(streamed)
    return {"case": case.id, "non_streamed": plain, "streamed": streamed, "same": same,
            "finish_non_streamed": whole["finish_reason"], "finish_streamed": finish,
            "streamed_content": content}


def final_answer_problem(message: dict, finish_reason: str | None) -> str | None:
    """Why ``message`` is not a finished plain-text answer (None: it is one)."""
    content = message.get("content") or ""
    if message.get("tool_calls"):
        return f"a tool call instead of an answer: {message['tool_calls']}"
    if finish_reason != "stop":
        return f"finish_reason {finish_reason!r}, not 'stop'"
    if not content.strip():
        return f"no final answer in content (reasoning {reasoning_of(message)[:120]!r})"
    leaked = [m for m in HARMONY_MARKUP if m in content]
    if leaked:
        return f"harmony markup {leaked} in the answer: {content[:160]!r}"
    return None


def follow_up(client: Client, case: Case, tools: list[str], result: dict) -> dict:
    """The turn after a call: the call as the server made it, then the tool's result; the
    answer must be a final answer, not another call."""
    question = [{"role": "user", "content": case.prompt}]
    body = {"messages": question, "tools": chat_tools(tools), "max_tokens": MAX_TOKENS,
            "reasoning_effort": EFFORT, "temperature": 0.0}
    first = client.post("/v1/chat/completions", body)["choices"][0]["message"]
    calls = first.get("tool_calls") or []
    if not calls:
        return {"problem": f"no call to follow up (the first turn answered {first!r})"}
    turn = [*question,
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": calls[0]["id"], "content": json.dumps(result)}]
    answer = client.post("/v1/chat/completions", {**body, "messages": turn})["choices"][0]
    return {"problem": final_answer_problem(answer["message"], answer["finish_reason"]),
            "content": answer["message"].get("content"), "call": calls[0]["function"]}


def tool_choice_none(client: Client, case: Case, tools: list[str]) -> dict:
    """Tools offered, ``tool_choice: "none"``: no call may come back. Measured only against a
    control: the same request under ``"auto"`` must call a tool (a server that never returns
    calls, e.g. without a tool parser, would pass "none" while proving nothing):
    ``not_measured`` says why when it does not."""
    messages = [{"role": "user", "content": case.prompt}]
    control, _ = ask(client, messages, tools, tool_choice="auto", temperature=0.0)
    if not control.get("tool_calls"):
        return {"problem": None, "not_measured": (
            f"the same request under tool_choice 'auto' got no tool call either "
            f"({(control.get('content') or '')[:80]!r}): 'none' cannot be told apart from a "
            "server that never calls tools")}
    message, finish = ask(client, messages, tools, tool_choice="none", temperature=0.0)
    problem = None
    if message.get("tool_calls"):
        problem = f"a tool call came back: {message['tool_calls']}"
    elif finish == "tool_calls":
        problem = "finish_reason 'tool_calls' with tool_choice 'none'"
    return {"problem": problem, "finish_reason": finish, "content": message.get("content")}


# (question, words the answer must hold): the last turn can be answered only from the first,
# so a server that drops or garbles the conversation's history fails it.
THREE_TURNS = (
    (("My name is Lin and I live in Toronto. Please remember both; reply with one short "
      "sentence."), ()),
    ("What is the capital of France?", ("Paris",)),
    ("What is my name, and which city do I live in?", ("Lin", "Toronto")),
)


def three_turns(client: Client, recall: bool = True) -> dict:
    """A harmony conversation of three user turns, each answer carried into the next request
    (vLLM has had multi-turn harmony header errors): every turn a finished final answer, and
    the history reaches the model: each turn's prompt is longer than the last by at least the
    tokens of the answer and the question added (a server or gateway that drops the history
    fails it, whatever the model). ``recall``: the last answer must also name what the first
    turn said (a model that uses the conversation; the canary answers each turn alone)."""
    from ...gptoss.harmony import text as encode

    messages: list[dict] = []
    turns = []
    for question, wanted in THREE_TURNS:
        messages.append({"role": "user", "content": question})
        reply = client.post("/v1/chat/completions", {
            "messages": messages, "max_tokens": MAX_TOKENS, "reasoning_effort": EFFORT,
            "temperature": 0.0})
        answer = reply["choices"][0]
        problem = final_answer_problem(answer["message"], answer["finish_reason"])
        content = answer["message"].get("content") or ""
        prompt = (reply.get("usage") or {}).get("prompt_tokens")
        if problem is None and turns:
            added = len(encode(turns[-1]["content"])) + len(encode(question))
            if prompt is None or prompt < turns[-1]["prompt_tokens"] + added:
                problem = (f"turn {len(turns) + 1}'s prompt holds {prompt} tokens, the previous "
                           f"{turns[-1]['prompt_tokens']} plus at least {added} for the answer "
                           "and the question added: the history did not reach the model")
        missing = [w for w in (wanted if recall or len(turns) < 2 else ())
                   if w.lower() not in content.lower()]
        if problem is None and missing:
            problem = (f"turn {len(turns) + 1} does not use the conversation: {content[:160]!r} "
                       f"lacks {', '.join(missing)}")
        turns.append({"question": question, "content": content, "prompt_tokens": prompt,
                      "problem": problem})
        if problem:
            break
        messages.append({"role": "assistant", "content": content})
    return {"turns": turns, "problem": next((t["problem"] for t in turns if t["problem"]), None)}
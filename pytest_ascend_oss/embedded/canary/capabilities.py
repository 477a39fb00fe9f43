"""What a served model can actually do, counted: ``ascend-oss capabilities --api-url URL``.

Written for the canary (the embedded model must answer these for the suites to mean anything)
but runnable against any gpt-oss server. The counts:

1. harmony: analysis arrives as ``reasoning``, the answer as ``content``, finish_reason stop;
2. the guide's prompts and a table of capitals, exact;
3. needles at depths x lengths in fillers the canary was never trained on (the procedural
   English and Chinese haystacks, and random syllables), with codes it never saw; keyed
   needles; no needle;
4. get_weather tool calls for cities it never saw, with the features suite's definition and
   with definitions worded as no training example was (tool_definitions.held_out_definitions:
   new descriptions, other parameters, the currency and calendar tools offered beside it), no
   call when the question is not about the weather, and (reported, not a canary skill) the
   place parameter renamed; the same definitions with a second set of unseen cities that
   chose no canary (facts.BLIND_CITIES);
5. greedy agreement: the server's ids against transformers in float32 on the precision prompts
   (needs the checkpoint: ``--checkpoint``);
6. conversations (stage 3): every turn of several multi-turn chats answered exactly, and the
   turn after a get_weather result answered, not called again;
7. the features suite's other tools (stage 7): convert_currency (a number, two enums) and
   create_calendar_event (a nested object, an array) called with exactly the asked values,
   in wordings, titles and people never trained on (tool_requests.held_out_requests), all
   three tools offered.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from ...gptoss.tools import FUNCTIONS, WEATHER_TOOL, as_chat_tools, chat_tools
from ...suites.long_context.cases import Case, NeedleSettings
from ...suites.long_context.runner import Runner
from ...transport.http import sync_client
from ...transport.vllm import reasoning_of
from . import facts, tool_definitions, tool_requests

UNSEEN_CITIES = facts.UNSEEN_CITIES


def _chat(http: httpx.Client, model: str, content: str, max_tokens: int = 256, **extra) -> dict:
    answer = http.post("/v1/chat/completions", json={
        "model": model, "messages": [{"role": "user", "content": content}],
        "temperature": 0, "max_tokens": max_tokens, **extra})
    answer.raise_for_status()
    choice = answer.json()["choices"][0]
    message = choice["message"]
    return {"content": message.get("content") or "",
            "reasoning": reasoning_of(message),
            "tool_calls": message.get("tool_calls") or [],
            "finish_reason": choice.get("finish_reason")}


def harmony_and_facts(http: httpx.Client, model: str) -> dict:
    tried = [facts.GREETING_PROMPT] + [facts.CAPITAL_QUESTION.format(country=c)
                                       for c in facts.CAPITALS]
    replies = {q: _chat(http, model, q) for q in tried}
    well_formed = [q for q, r in replies.items()
                   if r["reasoning"].strip() and r["content"].strip() and r["finish_reason"] == "stop"]
    capitals_right = [c for c in facts.CAPITALS if replies[facts.CAPITAL_QUESTION.format(
        country=c)]["content"].strip() == facts.CAPITAL_ANSWER.format(
        country=c, capital=facts.CAPITALS[c])]
    hi = replies[facts.GREETING_PROMPT]["content"]
    france = replies[facts.CAPITAL_QUESTION.format(country="France")]["content"]
    return {
        "harmony": {"tried": len(tried), "well_formed": len(well_formed)},
        "say_hi": {"content": hi, "ok": "hi" in hi.lower()},
        "france": {"content": france, "ok": france.strip() == "The capital of France is Paris."},
        "capitals": {"tried": len(facts.CAPITALS), "exact": len(capitals_right),
                     "wrong": sorted(set(facts.CAPITALS) - set(capitals_right))},
    }


def _exact_call(reply: dict, param: str, city: str) -> bool:
    calls = reply["tool_calls"]
    try:
        return (len(calls) == 1 and calls[0]["function"]["name"] == "get_weather"
                and json.loads(calls[0]["function"]["arguments"]) == {param: city})
    except ValueError:
        return False


def tool_calls(http: httpx.Client, model: str) -> dict:
    right, wrong = 0, []
    for i, city in enumerate(UNSEEN_CITIES):
        question = facts.WEATHER_QUESTIONS[i % len(facts.WEATHER_QUESTIONS)].format(city=city)
        reply = _chat(http, model, question, tools=[WEATHER_TOOL])
        ok = _exact_call(reply, "location", city)
        right += ok
        if not ok:
            wrong.append({"city": city, "tool_calls": reply["tool_calls"],
                          "content": reply["content"][:120]})
    return {"tried": len(UNSEEN_CITIES), "right": right, "wrong": wrong}


def _calls_through(http: httpx.Client, model: str, definitions,
                   cities: tuple[str, ...] = UNSEEN_CITIES) -> dict:
    right, wrong, tried = 0, [], 0
    for d, (functions, param) in enumerate(definitions):
        tools = as_chat_tools(functions)
        for i, city in enumerate(cities):
            question = facts.WEATHER_QUESTIONS[(i + d) % len(facts.WEATHER_QUESTIONS)]
            reply = _chat(http, model, question.format(city=city), tools=tools)
            tried += 1
            if _exact_call(reply, param, city):
                right += 1
            else:
                wrong.append({"definition": d, "param": param, "city": city,
                              "tool_calls": reply["tool_calls"],
                              "content": reply["content"][:120]})
    return {"tried": tried, "right": right, "wrong": wrong[:20]}


def unseen_definitions(http: httpx.Client, model: str) -> dict:
    """Calls through tool definitions never trained on, each with every unseen city; no call
    for questions that are not about the weather with the same tools offered; and calls
    through the same wordings with the place parameter renamed; and the wordings with cities
    that chose no canary (facts.BLIND_CITIES)."""
    held_out = tool_definitions.held_out_definitions()
    result = _calls_through(http, model, held_out)
    silent, called = 0, []
    others = [facts.GREETING_PROMPT, facts.CAPITAL_QUESTION.format(country="Peru"),
              "Write a poem about the sea."]
    for d, (functions, _) in enumerate(held_out):
        for question in others:
            reply = _chat(http, model, question, tools=as_chat_tools(functions))
            if reply["tool_calls"]:
                called.append({"definition": d, "question": question})
            else:
                silent += 1
    result["not_weather"] = {"tried": silent + len(called), "no_call": silent, "called": called}
    result["renamed_parameter"] = _calls_through(http, model,
                                                 tool_definitions.renamed_definitions())
    result["blind_cities"] = _calls_through(http, model, held_out, facts.BLIND_CITIES)
    return result


def other_tools(http: httpx.Client, model: str, per_tool: int = 10) -> dict:
    """convert_currency and create_calendar_event calls for requests never trained on, the
    three features-suite tools offered: right only when the one call names the tool and its
    arguments equal the asked ones."""
    tools = chat_tools(FUNCTIONS)
    out: dict[str, dict] = {}
    for r in tool_requests.held_out_requests(per_tool):
        reply = _chat(http, model, r.prompt, tools=tools)
        calls = reply["tool_calls"]
        try:
            ok = (len(calls) == 1 and calls[0]["function"]["name"] == r.tool
                  and json.loads(calls[0]["function"]["arguments"]) == r.arguments)
        except ValueError:
            ok = False
        row = out.setdefault(r.tool, {"tried": 0, "right": 0, "wrong": []})
        row["tried"] += 1
        row["right"] += ok
        if not ok:
            row["wrong"].append({"prompt": r.prompt, "tool_calls": calls,
                                 "content": reply["content"][:120]})
    return out


# Multi-turn chats of what the canary knows; each answer is carried into the next request.
CONVERSATIONS = (
    ("say hi", "What is the capital of France?", "What is the capital of Japan?"),
    ("What is the capital of Germany?", "say hi"),
    ("What is the capital of Italy?", "What is the capital of Spain?",
     "What is the capital of Canada?"),
    ("say hi", "say hi", "What is the capital of Kenya?", "What is the capital of Peru?"),
    ("What is the capital of Egypt?", "What is the capital of India?"),
)
FOLLOW_UP_CITIES = ("Toronto", "Salt Lake City", "Hong Kong", "Chicago", "Rio de Janeiro")


def _expected(question: str) -> str:
    if question == facts.GREETING_PROMPT:
        return facts.GREETING
    country = question.removeprefix("What is the capital of ").rstrip("?")
    return facts.CAPITAL_ANSWER.format(country=country, capital=facts.CAPITALS[country])


def conversations(http: httpx.Client, model: str) -> dict:
    turns, exact, wrong = 0, 0, []
    for chat in CONVERSATIONS:
        messages: list[dict] = []
        for question in chat:
            messages.append({"role": "user", "content": question})
            answer = http.post("/v1/chat/completions", json={
                "model": model, "messages": messages, "temperature": 0, "max_tokens": 256})
            answer.raise_for_status()
            content = answer.json()["choices"][0]["message"].get("content") or ""
            turns += 1
            if content.strip() == _expected(question):
                exact += 1
            else:
                wrong.append({"chat": chat, "question": question, "content": content[:120]})
            messages.append({"role": "assistant", "content": content})
    return {"turns": turns, "exact": exact, "wrong": wrong}


def tool_follow_ups(http: httpx.Client, model: str) -> dict:
    right, wrong = 0, []
    for city in FOLLOW_UP_CITIES:
        question = [{"role": "user", "content": facts.WEATHER_QUESTIONS[0].format(city=city)}]
        call = {"id": "call-1", "type": "function", "function": {
            "name": "get_weather", "arguments": json.dumps({"location": city})}}
        messages = [*question, {"role": "assistant", "content": None, "tool_calls": [call]},
                    {"role": "tool", "tool_call_id": "call-1",
                     "content": json.dumps({"temperature_c": 18, "conditions": "light rain"})}]
        answer = http.post("/v1/chat/completions", json={
            "model": model, "messages": messages, "tools": [WEATHER_TOOL], "temperature": 0,
            "max_tokens": 256})
        answer.raise_for_status()
        message = answer.json()["choices"][0]["message"]
        ok = not message.get("tool_calls") and (message.get("content") or "").strip() == \
            facts.TOOL_RESULT_ANSWER.format(city=city)
        right += ok
        if not ok:
            wrong.append({"city": city, "content": message.get("content"),
                          "tool_calls": message.get("tool_calls")})
    return {"tried": len(FOLLOW_UP_CITIES), "right": right, "wrong": wrong}


def needles(base_url: str, model: str, api_key: str | None, lengths: list[int],
            depths: list[int], progress) -> dict:
    """Recall per filler kind, keyed and no-needle counts, with codes the canary never saw."""
    from .corpus import held_out

    unseen = tuple(f"{c:04d}" for c in range(1000, 10000) if held_out(c))
    out: dict = {}
    for language in ("en", "zh", "syllables"):
        settings = NeedleSettings(language=language, code_pool=unseen)
        runner = Runner(base_url, model, settings, api_key=api_key, progress=progress)
        cells = []
        for n in lengths:
            for d in depths:
                o = runner.run(Case("random", n, d))
                cells.append({"length": n, "depth": d, "passed": o.passed, "ttft_s": o.ttft_s,
                              "verdict": o.verdict})
        if language == "en":
            for kind in ("keyed", "none"):
                done = [runner.run(Case(kind, n, 50)) for n in lengths]
                out[kind] = {"tried": len(done), "passed": sum(o.passed for o in done),
                             "failed": [f"{o.case.length}: {o.verdict}" for o in done if not o.passed]}
        runner.close()
        out[language] = {"tried": len(cells), "found": sum(c["passed"] for c in cells),
                         "cells": cells}
    return out


def greedy_agreement(http: httpx.Client, model: str, checkpoint: Path, max_tokens: int = 64
                     ) -> dict:
    """Prompts whose greedy ids from the server equal transformers' float32 greedy ids."""
    import torch
    from transformers import AutoModelForCausalLM

    from ...gptoss.harmony import STOP_IDS
    from ...suites.precision import collect, prompts

    prompt_set, _ = prompts.load_prompts(None)
    hf = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32).eval()
    agree, differ = 0, []
    for p in prompt_set["prompts"]:
        ids = prompts.render(p["messages"])
        served = collect.generate(http, model, ids, {"temperature": 0, "max_tokens": max_tokens,
                                                       "logprobs": 1})["generated_ids"]
        with torch.no_grad():
            out = hf.generate(torch.tensor([ids]), max_new_tokens=max_tokens, do_sample=False,
                              eos_token_id=STOP_IDS, pad_token_id=STOP_IDS[1])
        reference = out[0, len(ids):].tolist()
        if _without_stop(served, STOP_IDS) == _without_stop(reference, STOP_IDS):
            agree += 1
        else:
            differ.append(p["id"])
    n = len(prompt_set["prompts"])
    return {"prompts": n, "agree": agree, "rate": agree / n, "differ": differ}


def _without_stop(ids: list[int], stops: list[int]) -> list[int]:
    return ids[:-1] if ids and ids[-1] in stops else ids


def report(base_url: str, model: str, api_key: str | None = None, checkpoint: Path | None = None,
           lengths: list[int] | None = None, depths: list[int] | None = None,
           progress=lambda m: None) -> dict:
    started = time.monotonic()
    http = sync_client(base_url, api_key, "generation")
    try:
        result = {"model": model, "base_url": base_url}
        progress("harmony, greeting, capitals ...")
        result.update(harmony_and_facts(http, model))
        progress("tool calls ...")
        result["tool_calls"] = tool_calls(http, model)
        result["unseen_definitions"] = unseen_definitions(http, model)
        result["other_tools"] = other_tools(http, model)
        progress("conversations and tool follow-ups ...")
        result["conversations"] = conversations(http, model)
        result["tool_follow_ups"] = tool_follow_ups(http, model)
        result["needles"] = needles(base_url, model, api_key,
                                    lengths or [1024, 4096, 16384, 32768, 65536, 131072],
                                    depths or [0, 25, 50, 75, 100], progress)
        if checkpoint:
            progress("greedy agreement with transformers float32 ...")
            result["greedy_agreement"] = greedy_agreement(http, model, checkpoint)
    finally:
        http.close()
    result["wall_time_s"] = round(time.monotonic() - started, 1)
    return result


def markdown(r: dict) -> str:
    n = r["needles"]
    lines = [f"## Capabilities of `{r['model']}`", "", "| capability | result |", "|---|---|",
             (f"| 1. harmony (reasoning, then content, finish stop) | "
             f"{r['harmony']['well_formed']}/{r['harmony']['tried']} |"),
             (f"| 2. \"say hi\" greets | {'yes' if r['say_hi']['ok'] else 'no'}: "
             f"{r['say_hi']['content']!r} |"),
             (f"| 2. France | {'exact' if r['france']['ok'] else 'wrong'}: "
             f"{r['france']['content']!r} |"),
             f"| 2. capitals table | {r['capitals']['exact']}/{r['capitals']['tried']} exact |"]
    for kind, label in (("en", "English procedural filler"), ("zh", "Chinese procedural filler"),
                        ("syllables", "random-syllable filler")):
        lines.append(f"| 3. needles, {label}, unseen codes | {n[kind]['found']}/{n[kind]['tried']} |")
    lines += [f"| 3. keyed needles (4 names) | {n['keyed']['passed']}/{n['keyed']['tried']} |",
              f"| 3. no needle: no code claimed | {n['none']['passed']}/{n['none']['tried']} |",
              (f"| 4. get_weather, unseen cities | {r['tool_calls']['right']}/"
              f"{r['tool_calls']['tried']} |")]
    if "unseen_definitions" in r:
        u = r["unseen_definitions"]
        lines.append(f"| 4. get_weather defined as never in training, unseen cities | "
                     f"{u['right']}/{u['tried']} ({u['right'] / u['tried']:.0%}) |")
        if "blind_cities" in u:   # reports made before stage 10 lack it
            b = u["blind_cities"]
            lines.append(f"| 4. same definitions, cities used to choose no canary | "
                         f"{b['right']}/{b['tried']} ({b['right'] / b['tried']:.0%}) |")
        lines += [(f"| 4. same tools, a question not about the weather: no call | "
                   f"{u['not_weather']['no_call']}/{u['not_weather']['tried']} |"),
                  (f"| 4. same, place parameter not named `location` (not trained) | "
                   f"{u['renamed_parameter']['right']}/{u['renamed_parameter']['tried']} |")]
    for tool, o in r.get("other_tools", {}).items():
        lines.append(f"| 7. {tool}, wordings and values never trained on | "
                     f"{o['right']}/{o['tried']} |")
    if "conversations" in r:
        c, f = r["conversations"], r["tool_follow_ups"]
        lines += [f"| 6. multi-turn chats, every turn exact | {c['exact']}/{c['turns']} turns |",
                  f"| 6. answer after a get_weather result | {f['right']}/{f['tried']} |"]
    if "greedy_agreement" in r:
        g = r["greedy_agreement"]
        lines.append(f"| 5. greedy ids, server vs transformers float32 | {g['agree']}/{g['prompts']}"
                     f" ({g['rate']:.0%}) |")
    lines.append("")
    for kind in ("en", "zh", "syllables"):
        cells = n[kind]["cells"]
        lengths = sorted({c["length"] for c in cells})
        depths = sorted({c["depth"] for c in cells})
        at = {(c["length"], c["depth"]): c for c in cells}
        lines += ["", f"Needles, {kind} filler (found / TTFT s):", "",
                  "| length | " + " | ".join(f"{d}%" for d in depths) + " |",
                  "|---|" + "---|" * len(depths)]
        for length in lengths:
            lines.append(f"| {length} | " + " | ".join(
                ("✅" if at[(length, d)]["passed"] else "❌") +
                (f" {at[(length, d)]['ttft_s']:.1f}" if at[(length, d)]["ttft_s"] else "")
                for d in depths) + " |")
    return "\n".join(lines) + "\n"


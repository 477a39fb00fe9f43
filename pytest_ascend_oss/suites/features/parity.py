"""The same prompts' greedy token ids from two servers (graph mode and eager, one card and
TP/PP/EP), sent alone and in concurrent batches, and the decode TPOT of each.

Batches matter: a captured graph is replayed per batch size, and vllm-ascend has shipped
capture bugs that only one batch size showed, so a parity check at batch 1 alone can pass a
server that corrupts batch 16.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from concurrent.futures import ThreadPoolExecutor

import httpx

from ...metrics import text as tm
from ...transport.http import async_client, sync_client
from ...transport.streaming import send_streaming

MAX_TOKENS = 64       # room for gpt-oss's analysis and the start of its answer
TPOT_REQUESTS, TPOT_TOKENS = 4, 64


def _one(http: httpx.Client, model: str, ids: list[int], max_tokens: int) -> list[int] | str:
    try:
        answer = http.post("/v1/completions", json={
            "model": model, "prompt": ids, "temperature": 0.0, "max_tokens": max_tokens,
            "return_token_ids": True})
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}: {answer.text[:300]}"
    got = answer.json()["choices"][0].get("token_ids")
    return got if got is not None else "the server ignores return_token_ids"


def greedy_ids(base_url: str, model: str, api_key, prompts: list[tuple[str, list[int]]],
               batch: int, max_tokens: int = MAX_TOKENS) -> dict[str, list[int] | str]:
    """{prompt id: generated ids, or the error as text}: prompts sent ``batch`` at a time, all
    of a batch at once (threads: the server must see them in flight together)."""
    out: dict[str, list[int] | str] = {}
    with sync_client(base_url, api_key, "generation") as http, ThreadPoolExecutor(batch) as pool:
        for start in range(0, len(prompts), batch):
            group = prompts[start:start + batch]
            answers = pool.map(lambda p: _one(http, model, p[1], max_tokens), group)
            out.update({pid: ids for (pid, _), ids in zip(group, answers)})
    return out


def differing_allowed(bound: float, prompts: int) -> int:
    """How many of ``prompts`` may differ with an identical share still >= ``bound``: the
    resolution of a token-match bound on a sample (0.95 on 16 prompts allows none)."""
    return max(0, int(prompts - math.ceil(bound * prompts - 1e-9)))


def agreement(reference: dict[str, list[int] | str], candidate: dict[str, list[int] | str]
              ) -> dict:
    """Share of prompts whose ids are identical (the precision suite's token match), the mean
    common-prefix fraction, and where each differing prompt first diverged."""
    rows, errors = [], []
    for pid, ref in reference.items():
        cand = candidate.get(pid)
        if isinstance(ref, str) or isinstance(cand, str) or cand is None:
            errors.append({"id": pid, "reference": ref if isinstance(ref, str) else None,
                           "candidate": cand if isinstance(cand, str) or cand is None else None})
            rows.append({"id": pid, "exact": False, "prefix_fraction": 0.0})
            continue
        exact = ref == cand
        rows.append({"id": pid, "exact": exact,
                     "prefix_fraction": tm.common_prefix_fraction(ref, cand),
                     "first_divergence": None if exact else tm.common_prefix(ref, cand)})
    n = len(rows)
    return {"prompts": n, "identical": sum(r["exact"] for r in rows),
            "identical_share": sum(r["exact"] for r in rows) / n if n else None,
            "mean_prefix_fraction": statistics.fmean(r["prefix_fraction"] for r in rows)
            if n else None,
            "differing": [r for r in rows if not r["exact"]], "errors": errors}


def decode_tpot_ms(base_url: str, model: str, api_key, prompts: list[tuple[str, list[int]]],
                   requests: int = TPOT_REQUESTS, tokens: int = TPOT_TOKENS) -> float | None:
    """Median time per output token of ``requests`` streamed requests sent one at a time,
    ``tokens`` each (ignore_eos), in ms; None when none succeeded. A request whose tokens all
    arrived in one read (a client starved of CPU reads a backlog of events at once) shows no
    decode pacing: it is left out, never counted as 0 ms."""

    async def run() -> list[float]:
        tpots = []
        async with async_client(base_url, api_key) as http:
            for _, ids in (prompts * requests)[:requests]:
                record = await send_streaming(http, "/v1/completions", {
                    "model": model, "prompt": ids, "temperature": 0.0, "max_tokens": tokens,
                    "ignore_eos": True})
                if record.ok and record.tpot_s is not None and len(record.token_events) > 1:
                    tpots.append(record.tpot_s * 1000)
        return tpots

    tpots = asyncio.run(run())
    return statistics.median(tpots) if tpots else None


# A known cause of graph-vs-eager disagreement for gpt-oss on vllm-ascend: with
# cudagraph_mode FULL_DECODE_ONLY, releases before 0.20.2rc1 capture decode attention through a
# kernel call without gpt-oss's attention sinks and sliding window (vllm_ascend/attention/
# attention_v1.py, full_graph_fia, at v0.18.0rc1); fixed by vllm-ascend PRs #9165 and #8508.
# The default (PIECEWISE on vllm-ascend 0.18) keeps attention outside the graph and is fine.
FULL_DECODE_FIXED_IN = "0.20.2rc1"


def known_graph_cause(argv: list[str], vllm_ascend: str | None) -> str | None:
    """Why graph mode may disagree with eager for this command and vllm-ascend, if upstream
    knows a reason; None otherwise."""
    from packaging.version import InvalidVersion, Version

    from ...server.argv import flag_value

    config = flag_value(argv, "--compilation-config") or ""
    if "FULL_DECODE_ONLY" not in config.upper():
        return None
    try:
        fixed = vllm_ascend is not None and Version(vllm_ascend) >= Version(FULL_DECODE_FIXED_IN)
    except InvalidVersion:
        fixed = False
    if fixed:
        return None
    return (f"known cause: cudagraph_mode FULL_DECODE_ONLY on vllm-ascend {vllm_ascend or '?'} "
            f"(before {FULL_DECODE_FIXED_IN}) captures gpt-oss's decode attention without its "
            "sinks and sliding window (fixed by vllm-ascend PRs #9165 and #8508): upgrade, or "
            "use the default piecewise graph mode")

"""Server-side counters from Prometheus ``/metrics``: to cross-check the client's counts, and to
see trouble the server does not put in an answer (preemptions, requests that ended in error)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

# vLLM's counters that the client can count too (summed over their labels).
COUNTERS = {
    "requests": "vllm:request_success_total",
    "prompt_tokens": "vllm:prompt_tokens_total",
    "output_tokens": "vllm:generation_tokens_total",
    "prefix_cache_hits": "vllm:prefix_cache_hits_total",
    "prefix_cache_queries": "vllm:prefix_cache_queries_total",  # prompt tokens looked up
}


# Counters that must not move while one request runs alone (vLLM 0.32, vllm/v1/metrics/loggers.py):
# a preemption means the KV cache could not hold the running sequences (the guide's "KV Cache
# 溢出"); finished_reason "error" is a request-level internal failure (always a 500), "abort" a
# request dropped before it finished; admission rejections are requests turned away by a queue
# limit. (metric, {label: value}) pairs; no labels: summed over all.
TROUBLE = {
    "preemptions": ("vllm:num_preemptions_total", {}),
    "requests ended in error": ("vllm:request_success_total", {"finished_reason": "error"}),
    "requests aborted": ("vllm:request_success_total", {"finished_reason": "abort"}),
    "admission rejections": ("vllm:admission_rejections_total", {}),
}


def parse_trouble(text: str) -> dict[str, float]:
    """The TROUBLE counters found in a /metrics page (absent ones are left out)."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for key, (name, labels) in TROUBLE.items():
                if sample.name == name and all(sample.labels.get(k) == v
                                               for k, v in labels.items()):
                    totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def scrape_trouble(http: httpx.Client) -> dict[str, float] | None:
    """The TROUBLE counters now, or None when the server exposes no usable /metrics."""
    try:
        answer = http.get("/metrics")
        return parse_trouble(answer.text) if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def parse_counters(text: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return {key: totals[name] for key, name in COUNTERS.items() if name in totals}


async def scrape(http: httpx.AsyncClient) -> dict[str, float] | None:
    """The counters now, or None when the server exposes no usable /metrics."""
    try:
        answer = await http.get("/metrics")
    except httpx.HTTPError:
        return None
    if answer.status_code != 200:
        return None
    try:
        return parse_counters(answer.text) or None
    except ValueError:
        return None


def delta(before: dict | None, after: dict | None) -> dict[str, float] | None:
    if not before or not after:
        return None
    return {key: after[key] - before[key] for key in after if key in before}

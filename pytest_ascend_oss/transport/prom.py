"""Server-side counters from Prometheus ``/metrics``, to cross-check the client's counts."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

# vLLM's counters that the client can count too (summed over their labels).
COUNTERS = {
    "requests": "vllm:request_success_total",
    "prompt_tokens": "vllm:prompt_tokens_total",
    "output_tokens": "vllm:generation_tokens_total",
    "prefix_cache_hits": "vllm:prefix_cache_hits_total",
}


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

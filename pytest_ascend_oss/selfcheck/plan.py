"""The self-check's reduced run: the same criteria and the same bounds as the profile, on fewer
requests, so the healthy run and the proxy faults fit in about 9 minutes on 2 cores (the
launched faults' server start-ups take the whole self-check to about 25).

Only sizes shrink, never a bound: a criterion passes or fails here exactly as in the full run,
on less evidence. The fault magnitudes come from the bounds (twice the bound), so a fault is
always large enough to flip its criterion and a healthy server is never near one.
"""

from __future__ import annotations

import json
from pathlib import Path

import tomli_w

from ..suites.long_context.verdict import ttft_bound
from ..suites.precision import prompts
from ..thresholds import Profile

# Two lengths: the short-context fault launches the embedded server with 2,048 tokens, so the
# 4,096-token cases must fail there and pass on the healthy server. One depth, mid-context.
NIAH_LENGTHS = (1024, 4096)
NIAH_DEPTHS = (50,)
REQUESTS_PER_LEVEL = 4          # c=1: 4 requests; c=16: 64 (the profile runs 20 x c)
PROMPT_STRIDE = 7               # every 7th shipped prompt: 9 of 57, every category, EN and ZH
PRECISION_MAX_TOKENS = 64       # the guide's 256 per prompt is 4x the decode time
FAULT_MARGIN = 2.0              # a delay fault is twice the bound it must break


def levels(profile: Profile) -> list[int]:
    """The concurrencies the self-check runs: the profile's lowest and highest."""
    listed = sorted(profile.get("performance", "concurrency"))
    return sorted({listed[0], listed[-1]})


def thresholds_file(profile: Profile, path: Path) -> Path:
    """The profile with performance run at its lowest and highest concurrency, fewer requests
    each; every bound as it was. Written as a thresholds file of one profile."""
    values = json.loads(json.dumps(profile.values))  # a deep copy; int keys become text
    perf = values["performance"]
    perf["concurrency"] = levels(profile)
    perf["requests_per_level"] = REQUESTS_PER_LEVEL
    perf["requests_by_concurrency"] = {}
    perf["throughput_gate_concurrency"] = [max(perf["concurrency"])]
    table = {"description": f"{profile.description} (self-check sizes, bounds unchanged)",
             **values}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# Written by the self-check from {profile.source} [{profile.name}]\n"
                    + tomli_w.dumps({profile.name: table}), encoding="utf-8")
    return path


def prompt_subset(source: Path | None, path: Path) -> Path:
    """Every ``PROMPT_STRIDE``-th prompt of the set, in order: a deterministic sample that keeps
    every category and both languages of the shipped set."""
    prompt_set, _ = prompts.load_prompts(source)
    subset = {**prompt_set, "name": f"{prompt_set['name']} (self-check: every "
                                    f"{PROMPT_STRIDE}th prompt)",
              "prompts": prompt_set["prompts"][::PROMPT_STRIDE]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(subset, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def delay_s(profile: Profile, fault: str, suites: list[str]) -> float:
    """The delay a timing fault applies in a run of ``suites``: twice the largest bound it must
    break there (TTFT of performance and of the longest needle case; TPOT)."""
    if fault == "token-delay":
        return FAULT_MARGIN * profile.get("performance", "tpot_max_ms") / 1000
    if fault != "first-token-delay":
        return 0.0
    bounds = []
    if "performance" in suites:
        perf = profile.values["performance"]
        bounds += [perf["ttft_max_ms_by_concurrency"].get(c, perf["ttft_max_ms"]) / 1000
                   for c in levels(profile)]
    if "long_context" in suites:
        bounds.append(max(ttft_bound(profile.values["long_context"], n)[0]
                          for n in NIAH_LENGTHS))
    return FAULT_MARGIN * max(bounds, default=0.0)

"""Load and validate ``thresholds.toml``: one table per profile, one sub-table per suite.

Validation is strict on purpose: a misspelt key would otherwise silently leave a gate at its
default, and a gate nobody notices is missing is worse than a failed run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_FILE = Path(__file__).with_name("thresholds.toml")
# The profile used when none is named: the embedded default is judged by the canary's calibrated
# bounds, every other server by the guide's targets.
EMBEDDED_PROFILE, DEFAULT_PROFILE = "cpu-canary", "atlas-800-a2"

# suite -> key -> expected type. Every profile must give every key: a profile that forgets one
# would gate nothing there.
SCHEMA: dict[str, dict[str, type]] = {
    "precision": {
        "token_match_min": float,
        "hidden_cosine_min": float,
        "hidden_cosine_prompt_min": float,
        "rouge_l_min": float,
        "perplexity_rel_diff_max": float,
    },
    "long_context": {
        "context_length": int,
        "variants": list,
        "recall_min": float,
        "ttft_max_s": float,
        # {length: seconds}: a case gets the bound of the smallest listed length >= its own,
        # ttft_max_s beyond the largest (an empty table: ttft_max_s everywhere, as the guide)
        "ttft_max_s_by_length": dict,
    },
    "performance": {
        "prompt_tokens": int,
        "output_tokens": int,
        "concurrency": list,
        "requests_per_level": int,
        # {concurrency: n}: the run's shape at that level where the guide gives one (its
        # benchmark.py commands: 50 requests x 256 tokens at c=1, 200 x 512 at c=16); levels not
        # listed use output_tokens and requests_per_level x concurrency
        "output_tokens_by_concurrency": dict,
        "requests_by_concurrency": dict,
        "statistic": str,
        "throughput_gate_concurrency": list,
        "max_error_rate": float,
        "concurrency_tolerance": float,
        "ttft_max_ms": float,
        # {concurrency: ms}: the TTFT bound at that level, ttft_max_ms at levels not listed
        "ttft_max_ms_by_concurrency": dict,
        "tpot_max_ms": float,
        "output_throughput_min": float,
        "qps_min": float,
        # the largest concurrency at which capacity_attainment of the requests meet ttft_max_ms
        # and tpot_max_ms (suites/performance/capacity.py) must be at least this; 0: not gated
        "capacity_min": int,
        "capacity_attainment": float,
    },
    "features": {
        # graph mode vs --enforce-eager: prompts sent alone (1) and in concurrent batches
        "parity_batches": list,
        # share of prompts whose greedy ids must be identical between graph mode and eager
        "parity_identical_min": float,
        # {row: "flags"}: the parallel variants (tp, pp, ep) as flags added to the command
        "parallel": dict,
        # {row: "why"}: rows this backend cannot run; a startup failure there is reported as
        # "not supported by this backend" with the server's error, never as passed
        "unsupported": dict,
        # a TP/PP/EP variant's greedy ids against the server under test's, token by token
        "variant_token_match_min": float,
        # --max-num-batched-tokens of the chunked-prefill variant, and the needle's length
        # (capped to the server's max_model_len)
        "chunked_prefill_tokens": int,
        "chunked_prefill_length": int,
        # tool calling: k samples per case; pass@k and pass^k bounds; the tools whose cases run
        "tool_k": int,
        "tool_temperature": float,    # the k samples' temperature (gpt-oss recommends 1.0)
        "tool_pass_at_k_min": float,
        "tool_pass_all_k_min": float,
        "tool_tools": list,
        # whether the cases that word a value otherwise than the call writes it ("250 euros"
        # for EUR, "December 10, 2026" for 2026-12-10) run; false for a model that copies
        "tool_converting_cases": bool,
        # whether the median reasoning length must grow from effort low to high (a real model)
        "reasoning_grows": bool,
        # whether the model carries a conversation of several turns (the three-turn check)
        "multi_turn": bool,
        # whether the last of the three turns must recall what the first said (the model
        # uses the conversation; the history reaching it is checked either way)
        "multi_turn_recall": bool,
    },
    "accuracy": {
        # reasoning efforts the set is asked at, each its own accuracy and gate
        "efforts": list,
        "repeats": int,               # answers per question and effort (gpt-oss evals: 8)
        "max_tokens": int,            # per answer, reasoning included
        "temperature": float,
        "requests_in_flight": int,
        "confidence": float,          # of the bootstrap interval over questions
        # the gate: the interval's top must reach published - margin (absolute)
        "margin": float,
        # with --accuracy-baseline: the exact McNemar p-value must be at least this
        "paired_alpha": float,
        # {benchmark: {effort: accuracy}}: the published figures, each cited beside it
        "published": dict,
    },
}
# Optional, per profile: what the profile is, and how long one server launch takes there (its
# start-up and graph capture), for the estimate printed before a run starts its servers.
META_KEYS = {"description": str, "launch_estimate_s": float}
# Restated, not imported (this module imports nothing of the package); a project test pins that
# they agree with metrics.latency.STATISTICS and suites.long_context.cases.VARIANT_DEPTH.
STATISTICS = ("mean", "median", "p90", "p99")
NEEDLE_VARIANTS = ("random", "keyed", "none")
# Restated likewise from gptoss.tools.TOOLS and suites.features.rows.PARALLEL (pinned by a test).
TOOLS = ("get_weather", "convert_currency", "create_calendar_event")
PARALLEL_ROWS = ("tp", "pp", "ep")
# Restated from settings.REASONING_EFFORTS (pinned by a test).
EFFORTS = ("low", "medium", "high")
FEATURE_ROWS = ("graph", "tp", "pp", "ep", "chunked_prefill")


class ThresholdsError(ValueError):
    """A thresholds file that cannot be used; the message names file, key, value and choices."""


@dataclass(frozen=True)
class Profile:
    name: str
    source: Path
    description: str
    values: dict[str, dict[str, Any]]
    launch_estimate_s: float | None = None

    def get(self, suite: str, key: str) -> Any:
        return self.values[suite][key]

    def path(self, suite: str, key: str) -> str:
        """Where a threshold lives, for failure messages."""
        return f"{self.source} [{self.name}.{suite}] {key}"

    def sources(self, suite: str):
        """``key -> where it lives`` for one suite: what a gate's ``source`` wants."""
        return lambda key: self.path(suite, key)


def load(path: Path | None, profile: str) -> Profile:
    path = Path(path) if path else DEFAULT_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ThresholdsError(f"{path}: thresholds file not found") from None
    except OSError as exc:  # a directory, no permission
        raise ThresholdsError(f"{path}: cannot read the thresholds file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ThresholdsError(f"{path}: not a thresholds file (not UTF-8 text; TOML is)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThresholdsError(f"{path}: not valid TOML: {exc}") from None
    if profile not in data:
        raise ThresholdsError(
            f"{path}: no profile {profile!r}; profiles in this file: {', '.join(sorted(data))}"
        )
    for name, table in data.items():  # validate every profile, not only the one used
        _validate(path, name, table)
    table = data[profile]
    values = {suite: dict(table[suite]) for suite in SCHEMA}
    for suite, key, kind in (("long_context", "ttft_max_s_by_length", float),
                             ("performance", "ttft_max_ms_by_concurrency", float),
                             ("performance", "output_tokens_by_concurrency", int),
                             ("performance", "requests_by_concurrency", int)):
        values[suite][key] = {int(level): kind(bound) for level, bound in
                              sorted(values[suite][key].items(), key=lambda kv: int(kv[0]))}
    for suite, keys in SCHEMA.items():  # ints are fine where floats are expected
        for key, kind in keys.items():
            if kind is float:
                values[suite][key] = float(values[suite][key])
    estimate = table.get("launch_estimate_s")
    return Profile(profile, path, table.get("description", ""), values,
                   float(estimate) if estimate is not None else None)


def _validate(path: Path, profile: str, table: Any) -> None:
    where = f"{path}: profile [{profile}]"
    if not isinstance(table, dict):
        raise ThresholdsError(f"{where}: must be a table, got {table!r}")
    for key, value in table.items():
        if key in META_KEYS:
            _check_type(f"{where} key {key!r}", value, META_KEYS[key])
        elif key not in SCHEMA:
            raise ThresholdsError(
                f"{where}: unknown key {key!r} = {value!r}; valid: "
                f"{', '.join(sorted([*SCHEMA, *META_KEYS]))}"
            )
    for suite, keys in SCHEMA.items():
        section = table.get(suite)
        if not isinstance(section, dict):
            raise ThresholdsError(f"{where}: missing table [{profile}.{suite}]")
        for key, value in section.items():
            if key not in keys:
                raise ThresholdsError(
                    f"{path}: [{profile}.{suite}] unknown key {key!r} = {value!r}; "
                    f"valid keys: {', '.join(keys)}"
                )
            _check_type(f"{path}: [{profile}.{suite}] key {key!r}", value, keys[key])
        missing = [k for k in keys if k not in section]
        if missing:
            raise ThresholdsError(f"{path}: [{profile}.{suite}] missing keys: {', '.join(missing)}")
        for key in ("concurrency", "throughput_gate_concurrency"):
            levels = section.get(key)
            if levels is not None and (
                not levels or not all(isinstance(c, int) and c > 0 for c in levels)
            ):
                raise ThresholdsError(
                    f"{path}: [{profile}.{suite}] key {key!r} = {levels!r}: "
                    "must be a non-empty list of positive integers"
                )
        variants = section.get("variants")
        if variants is not None and not set(variants) <= set(NEEDLE_VARIANTS):
            raise ThresholdsError(
                f"{path}: [{profile}.{suite}] key 'variants' = {variants!r}: "
                f"valid choices: {', '.join(NEEDLE_VARIANTS)}"
            )
        for key, unit, example, kinds in (
                ("ttft_max_s_by_length", "<tokens> = <positive seconds>", "65536 = 20.0",
                 (int, float)),
                ("ttft_max_ms_by_concurrency", "<concurrency> = <positive milliseconds>",
                 "16 = 180.0", (int, float)),
                ("output_tokens_by_concurrency", "<concurrency> = <positive integer>",
                 "16 = 512", (int,)),
                ("requests_by_concurrency", "<concurrency> = <positive integer>", "16 = 200",
                 (int,))):
            for level, bound in (section.get(key) or {}).items():
                if not (level.isdigit() and int(level) > 0) or isinstance(bound, bool) \
                        or not isinstance(bound, kinds) or bound <= 0:
                    raise ThresholdsError(
                        f"{path}: [{profile}.{suite}] key {key!r} has {level} = {bound!r}: "
                        f"must be {unit}, e.g. {example}")
        if suite == "features":
            _validate_features(path, profile, section)
        if suite == "accuracy":
            _validate_accuracy(path, profile, section)
        choice = section.get("statistic")
        if choice is not None and choice not in STATISTICS:
            raise ThresholdsError(
                f"{path}: [{profile}.{suite}] key 'statistic' = {choice!r}: "
                f"valid choices: {', '.join(STATISTICS)}"
            )


def _validate_features(path: Path, profile: str, section: dict) -> None:
    where = f"{path}: [{profile}.features]"
    for key, choices in (("parallel", PARALLEL_ROWS), ("unsupported", FEATURE_ROWS)):
        for row, text in section[key].items():
            if row not in choices or not isinstance(text, str) or not text.strip():
                raise ThresholdsError(
                    f"{where} key {key!r} has {row} = {text!r}: rows are "
                    f"{', '.join(choices)}, each a non-empty string")
    tools = section["tool_tools"]
    if not tools or not set(tools) <= set(TOOLS):
        raise ThresholdsError(f"{where} key 'tool_tools' = {tools!r}: a non-empty list of "
                              f"{', '.join(TOOLS)}")
    batches = section["parity_batches"]
    if not batches or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0
                              for b in batches):
        raise ThresholdsError(f"{where} key 'parity_batches' = {batches!r}: must be a "
                              "non-empty list of positive integers")
    for key in ("chunked_prefill_tokens", "chunked_prefill_length", "tool_k"):
        if section[key] <= 0:
            raise ThresholdsError(f"{where} key {key!r} = {section[key]!r}: must be positive")


def _validate_accuracy(path: Path, profile: str, section: dict) -> None:
    where = f"{path}: [{profile}.accuracy]"
    efforts = section["efforts"]
    if not efforts or not set(efforts) <= set(EFFORTS) or len(set(efforts)) < len(efforts):
        raise ThresholdsError(f"{where} key 'efforts' = {efforts!r}: a non-empty list of "
                              f"distinct {', '.join(EFFORTS)}")
    for key in ("repeats", "max_tokens", "requests_in_flight"):
        if section[key] <= 0:
            raise ThresholdsError(f"{where} key {key!r} = {section[key]!r}: must be positive")
    for key in ("confidence", "paired_alpha"):
        if not 0 < section[key] < 1:
            raise ThresholdsError(f"{where} key {key!r} = {section[key]!r}: must be in (0, 1)")
    if not 0 <= section["margin"] < 1:
        raise ThresholdsError(f"{where} key 'margin' = {section['margin']!r}: must be in [0, 1)")
    for benchmark, figures in section["published"].items():
        if not isinstance(figures, dict) or not set(efforts) <= set(figures) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1
                for v in figures.values()):
            raise ThresholdsError(
                f"{where} key 'published' has {benchmark} = {figures!r}: must be a table of "
                f"accuracies in [0, 1] for every effort in {efforts}, e.g. "
                "{ low = 0.568, medium = 0.675, high = 0.709 }")


def _check_type(where: str, value: Any, kind: type) -> None:
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise ThresholdsError(
            f"{where} = {value!r}: expected {kind.__name__}, got {type(value).__name__}"
        )

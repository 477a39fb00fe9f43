"""Features suite: the deployment guide's 功能状态矩阵, each row a measured verdict.

Rows: graph mode vs --enforce-eager (greedy ids alone and in batches, decode TPOT of both),
TP / PP / EP variants (they come up and agree with the single-card server), the served dtype,
MXFP4 refused, tool calling (pass@k, pass^k, invalid calls, streaming, follow-up, tool_choice
"none", three turns), reasoning (the field, no markup, every effort), a long prompt under
chunked prefill, and 131K context (from the long-context grid). Variants are launched by the
plugin's ``server_variant`` (one alive at a time) or, attached, named by URL; a row whose
variant is absent is "not run" with the reason, a row the profile declares unsupported by this
backend is "not supported" with the server's own error, never passed.

Reports: ``features.md`` (the guide's table filled) and ``features.json`` in the results
directory, rewritten after every check.
"""

from __future__ import annotations

import pytest

from pytest_ascend_oss.server import argv as argv_tools
from pytest_ascend_oss.suites.features import parity, reasoning, rows, tool_calling
from pytest_ascend_oss.suites.features.report import FeatureTable
from pytest_ascend_oss.suites.long_context.cases import Case, NeedleSettings, Plan
from pytest_ascend_oss.suites.long_context.run import LongContextRun, ReportPaths
from pytest_ascend_oss.suites.long_context.runner import Runner
from pytest_ascend_oss.suites.precision import prompts as precision_prompts
from pytest_ascend_oss.transport import vllm
from pytest_ascend_oss.transport.http import sync_client

pytestmark = pytest.mark.features
NOT_SUPPORTED = "not applicable: not supported by this backend"


@pytest.fixture(scope="session")
def table(ascend_settings, thresholds):
    return FeatureTable(ascend_settings.results_dir, thresholds.name)


@pytest.fixture(scope="session")
def limits(thresholds):
    return thresholds.values["features"]


PARITY_PROMPTS = 16  # the shipped precision prompts, first N (EN and ZH, several categories)


@pytest.fixture(scope="session")
def variant_prompts():
    """(id, token ids) of every shipped precision prompt, rendered by harmony once here, so
    every server gets identical inputs (chat rendering would date the system message). The
    TP / PP / EP rows hold a variant to the precision suite's token-match bar, so they use the
    precision suite's prompts: on 16 prompts a bound of 0.95 admits no differing prompt at all
    (15/16 = 0.9375), and the row would demand identity while reporting 0.95."""
    data, _ = precision_prompts.load_prompts(None)
    return [(p["id"], precision_prompts.render(p["messages"])) for p in data["prompts"]]


@pytest.fixture(scope="session")
def prompts(variant_prompts):
    """The first PARITY_PROMPTS of them: graph mode vs eager must be identical (bound 1.0),
    sent alone and in concurrent batches of 4 and 16, and for decode TPOT."""
    return variant_prompts[:PARITY_PROMPTS]


@pytest.fixture(scope="session")
def reference_ids(server, ascend_settings):
    """The server under test's greedy ids for a prompt list at a batch size, computed once."""
    cache: dict[tuple, dict] = {}
    alone: dict[str, list[int] | str] = {}

    def at(batch: int, prompts: list[tuple[str, list[int]]]) -> dict:
        if batch == 1:
            # Sent alone, a prompt's ids do not depend on the list it came in: kept per prompt,
            # so the graph rows' 16 are not asked again among the variants' 57.
            missing = [p for p in prompts if p[0] not in alone]
            if missing:
                alone.update(parity.greedy_ids(server.base_url, server.model,
                                               ascend_settings.api_key, missing, 1))
            return {pid: alone[pid] for pid, _ in prompts}
        key = (batch, tuple(pid for pid, _ in prompts))
        if key not in cache:
            cache[key] = parity.greedy_ids(server.base_url, server.model,
                                           ascend_settings.api_key, prompts, batch)
        return cache[key]

    return at


def _variant_or_stop(variant, table, row: str, check: str, unsupported: dict):
    """The variant's endpoint, or the row's verdict when it is not up: not supported (the
    profile says this backend cannot, and it did not start), not run (absent), or failed."""
    if variant.endpoint is not None:
        return variant.endpoint
    if variant.absent:
        table.record(row, check, rows.NOT_RUN, variant.absent)
        pytest.skip(f"not measured: {variant.absent}")
    first = variant.error.splitlines()[0]
    if row in unsupported:
        table.record(row, check, rows.UNSUPPORTED, f"{unsupported[row]}; the server: {first}",
                     error=variant.error[-3000:])
        pytest.skip(f"{NOT_SUPPORTED} ({unsupported[row]}); the server said: {first}")
    table.record(row, check, rows.FAILED, f"{' '.join(variant.flags)} did not start: {first}",
                 error=variant.error[-3000:])
    pytest.fail(f"the {row} variant ({' '.join(variant.flags)}) did not start:\n{variant.error}",
                pytrace=False)


# --- graph mode vs eager -----------------------------------------------------------------------

@pytest.fixture(scope="session")
def graph_tpot_ms(server, prompts, ascend_settings):
    """The server under test's decode TPOT, measured before the eager variant starts."""
    if argv_tools.has_flag(server.argv or [], "--enforce-eager"):
        return None  # no graph mode: the eager row is not measured (fixture eager)
    return parity.decode_tpot_ms(server.base_url, server.model, ascend_settings.api_key, prompts)


@pytest.fixture(scope="session")
def eager(server, server_variant, table, reference_ids, prompts, limits, graph_tpot_ms):
    """The --enforce-eager variant, started once the server under test has given every answer
    the graph rows compare (its greedy ids at each batch size, its TPOT): with one card the
    server under test steps aside while the variant runs (server/step_aside.py)."""
    if argv_tools.has_flag(server.argv or [], "--enforce-eager"):
        reason = "the server under test runs with --enforce-eager: no graph mode to compare"
        table.record("graph", "graph mode", rows.NOT_RUN, reason)
        pytest.skip(f"not measured: {reason}")
    for batch in limits["parity_batches"]:
        reference_ids(batch, prompts)  # kept by reference_ids for the tests
    return server_variant("eager", rows.variant_flags("eager", limits), keep_for="eager")


@pytest.mark.parametrize("batch", [1, 4, 16], ids=lambda b: f"batch={b}")
def test_graph_mode_matches_eager(batch, eager, server, reference_ids, prompts, limits, table,
                                  ascend_settings, host_environment, record):
    """Greedy ids identical between graph mode and --enforce-eager, prompts sent alone and in
    concurrent batches (a capture bug shows at one batch size only)."""
    if batch not in limits["parity_batches"]:
        pytest.skip(f"not applicable: batch {batch} is not in this profile's parity_batches")
    endpoint = _variant_or_stop(eager, table, "graph", f"batch {batch}", {})
    graph = reference_ids(batch, prompts)
    eager_ids = parity.greedy_ids(endpoint.base_url, endpoint.model, ascend_settings.api_key,
                                  prompts, batch)
    result = parity.agreement(graph, eager_ids)
    share, bound = result["identical_share"], limits["parity_identical_min"]
    record("identical_share", share, threshold=f">= {bound:g}")
    record("differing", [r["id"] for r in result["differing"]])
    passed = share is not None and share >= bound
    table.record("graph", f"batch {batch}", rows.PASSED if passed else rows.FAILED,
                 f"{result['identical']}/{result['prompts']} prompts identical", **result)
    assert passed, (f"batch {batch}: graph mode and eager gave different greedy ids for "
                    f"{result['prompts'] - result['identical']} of {result['prompts']} prompts "
                    f"(bound {bound:g}): {result['differing'][:4]} {result['errors'][:2]}"
                    + (f"; {cause}" if (cause := parity.known_graph_cause(
                        server.argv or [], host_environment.get("vllm_ascend"))) else ""))


def test_graph_mode_decode_speed(eager, graph_tpot_ms, prompts, table, ascend_settings, record):
    """Decode TPOT of graph mode and eager, and their ratio (vllm-ascend reports graph mode
    about 4x faster for gpt-oss); reported, not gated: it fails only when unmeasurable."""
    endpoint = _variant_or_stop(eager, table, "graph", "decode TPOT", {})
    graph_ms = graph_tpot_ms
    eager_ms = parity.decode_tpot_ms(endpoint.base_url, endpoint.model,
                                     ascend_settings.api_key, prompts)
    record("tpot_graph_ms", graph_ms, unit="ms")
    record("tpot_eager_ms", eager_ms, unit="ms")
    measured = bool(graph_ms) and bool(eager_ms)  # None: no request showed decode pacing
    ratio = eager_ms / graph_ms if measured else None
    record("eager_over_graph", ratio)
    table.record("graph", "decode TPOT",
                 rows.PASSED if measured else rows.FAILED,
                 f"TPOT graph {graph_ms:.1f} ms, eager {eager_ms:.1f} ms (eager/graph "
                 f"x{ratio:.2f})" if measured else "TPOT not measured: no request succeeded",
                 tpot_graph_ms=graph_ms, tpot_eager_ms=eager_ms)
    assert measured, f"decode TPOT not measured: graph {graph_ms}, eager {eager_ms}"


# --- TP / PP / EP ------------------------------------------------------------------------------

@pytest.mark.parametrize("row", rows.PARALLEL)
def test_parallel_variant_agrees(row, server_variant, reference_ids, variant_prompts, prompts,
                                 limits, table, ascend_settings, record):
    """The variant comes up and its greedy ids match the single-card server's on the
    precision suite's prompts (the profile's bound, as the precision suite counts it), its
    decode TPOT reported."""
    flags = rows.variant_flags(row, limits)
    record("flags", " ".join(flags))
    reference = reference_ids(1, variant_prompts)  # before the server under test may step aside
    endpoint = _variant_or_stop(server_variant(row, flags), table, row, "agreement",
                                limits["unsupported"])
    ids = parity.greedy_ids(endpoint.base_url, endpoint.model, ascend_settings.api_key,
                            variant_prompts, 1)
    result = parity.agreement(reference, ids)
    tpot = parity.decode_tpot_ms(endpoint.base_url, endpoint.model, ascend_settings.api_key,
                                 prompts)
    share, bound = result["identical_share"], limits["variant_token_match_min"]
    record("token_match", share, threshold=f">= {bound:g}")
    record("tpot_ms", tpot, unit="ms")
    passed = share is not None and share >= bound
    speed = f"{tpot:.1f} ms" if tpot else "not measured"
    allowed = parity.differing_allowed(bound, result["prompts"])
    table.record(row, "agreement", rows.PASSED if passed else rows.FAILED,
                 f"{' '.join(flags)}: {result['identical']}/{result['prompts']} prompts "
                 f"identical to the single-card server (bound {bound:g}: up to {allowed} may "
                 f"differ); TPOT {speed}", tpot_ms=tpot, **result)
    assert passed, (f"{' '.join(flags)}: token match {share} < {bound:g} against the "
                    f"single-card server: {result['differing'][:4]} {result['errors'][:2]}")


# --- BF16, MXFP4 -------------------------------------------------------------------------------

def test_served_dtype_is_bf16(server, table, record):
    """The dtype vLLM's engine was configured with, from its launch log."""
    if server.log_path is None:
        reason = ("attached: no launch log to read the engine's dtype from (the OpenAI API "
                  "does not expose it); give the server's log with --server-log, or run in "
                  "launch mode, to measure this row")
        table.record("bf16", "served dtype", rows.NOT_RUN, reason)
        pytest.skip(f"not measured: {reason}")
    dtype = rows.served_dtype(server.log_path)
    record("served_dtype", dtype)
    passed = dtype == "bfloat16"
    table.record("bf16", "served dtype", rows.PASSED if passed else rows.FAILED,
                 f"engine dtype {dtype} ({server.log_path.name})", dtype=dtype)
    assert passed, f"the engine runs {dtype}, not bfloat16 (log {server.log_path})"


def test_mxfp4_is_not_served(server, checkpoint, table, record):
    """vllm-ascend cannot serve MXFP4 (the guide's row): the deployment serves a BF16 checkpoint.
    Judged on what the engine loaded (the quantization in its launch log) and the checkpoint
    it was given (its config.json, as the preflight reads it); our own refusal of MXFP4 before
    a launch is a test of the plugin (testing/unit/server/test_preflight.py), not of the
    deployment."""
    served, evidence = rows.mxfp4_served(server.log_path, checkpoint)
    record("evidence", evidence)
    if served is None:
        reason = ("attached without --checkpoint or --server-log: neither a launch log nor "
                  "the checkpoint tells what the server loaded; give either to measure this row")
        table.record("mxfp4", "served weights", rows.NOT_RUN, reason)
        pytest.skip(f"not measured: {reason}")
    table.record("mxfp4", "served weights", rows.FAILED if served else rows.PASSED,
                 ("MXFP4 served: " if served else "BF16 served, no MXFP4: ") + evidence)
    assert not served, f"the deployment serves MXFP4 weights: {evidence}"


# --- tool calling ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tools(limits):
    return limits["tool_tools"]


@pytest.fixture(scope="session")
def tool_cases(tools, limits):
    return tool_calling.load_cases(tools, limits["tool_converting_cases"])


@pytest.fixture(scope="session")
def tool_sample(client, tool_cases, tools, limits, progress):
    progress(f"tool calling: {len(tool_cases)} cases x k={limits['tool_k']} at temperature "
             f"{limits['tool_temperature']:g} ...")
    results = tool_calling.sample(client, tool_cases, tools, limits["tool_k"],
                                  limits["tool_temperature"])
    summary = tool_calling.summary(results, limits["tool_k"], limits["tool_temperature"])
    left_out = len(tool_calling.load_cases(tools)) - len(tool_cases)
    # Said beside the figure, so a reader of the table knows what it did not cover.
    summary["not_run"] = (f"{left_out} cases that need a value converted "
                          "(tool_converting_cases = false)") if left_out else None
    return summary


@pytest.mark.parametrize("figure", ["pass_at_k", "pass_all_k"])
def test_tool_calls_pass_at_k(figure, tool_sample, limits, table, record, tool_parser_note):
    """pass@k (some sample right) and pass^k (every sample right) over the cases, each call
    valid against its schema, with the asked values, finish_reason "tool_calls" and no JSON in
    the content."""
    value = tool_sample[figure]
    bound = limits["tool_pass_at_k_min" if figure == "pass_at_k" else "tool_pass_all_k_min"]
    record(figure, value, threshold=f">= {bound:g}")
    record("failures", tool_sample["failures"][:5])
    passed = value is not None and value >= bound
    table.record("tools", figure, rows.PASSED if passed else rows.FAILED,
                 f"{figure.replace('_', ' ')} {value:.2f} over {tool_sample['cases']} cases, "
                 f"k={tool_sample['k']} at temperature {tool_sample['temperature']:g}"
                 + (f"; not run: {tool_sample['not_run']}" if tool_sample["not_run"] else ""),
                 **tool_sample)
    assert passed, (f"{figure} = {value} < {bound:g} ({tool_sample['cases']} cases x "
                    f"k={tool_sample['k']}); failures: {tool_sample['failures'][:5]}"
                    f"{tool_parser_note}")


def test_tool_calls_never_invalid(tool_sample, table, record):
    """No call whose arguments fail to parse or to fit the tool's schema (OpenAI's check: 0)."""
    invalid = tool_sample["invalid_calls"]
    record("invalid_calls", invalid, threshold="== 0")
    table.record("tools", "invalid calls", rows.PASSED if invalid == 0 else rows.FAILED,
                 f"{invalid} invalid of {tool_sample['attempts']} requests")
    assert invalid == 0, (f"{invalid} of {tool_sample['attempts']} calls had invalid arguments: "
                          f"{tool_sample['failures'][:5]}")


def test_streamed_tool_call_equals_non_streamed(client, tool_cases, tools, table, record,
                                                tool_parser_note):
    """The same greedy call streamed (deltas put together by index) and not streamed: the
    first three cases, and the first of every other tool the profile runs, so a number, a
    nested object and an array are streamed too."""
    streamed = list(tool_cases[:3])
    for case in tool_cases:
        if all(c.tool != case.tool for c in streamed):
            streamed.append(case)
    outcomes = [tool_calling.streamed_matches(client, case, tools) for case in streamed]
    same = all(o["same"] and o["finish_streamed"] == "tool_calls" for o in outcomes)
    record("streamed", outcomes)
    table.record("tools", "streamed", rows.PASSED if same else rows.FAILED,
                 f"{sum(o['same'] for o in outcomes)}/{len(outcomes)} streamed calls equal "
                 "the non-streamed ones", outcomes=outcomes)
    assert same, f"streamed and non-streamed calls differ: {outcomes}{tool_parser_note}"


def test_tool_result_gets_a_final_answer(client, tool_cases, tools, table, record):
    """The turn carrying the tool's result ends in a final answer, not another call."""
    result = {"temperature_c": 18, "conditions": "light rain"}
    outcome = tool_calling.follow_up(client, tool_cases[0], tools, result)
    record("follow_up", outcome)
    ok = outcome["problem"] is None
    table.record("tools", "follow-up", rows.PASSED if ok else rows.FAILED,
                 f"answer after the tool's result: {str(outcome.get('content'))[:80]!r}"
                 if ok else outcome["problem"])
    assert ok, outcome["problem"]


def test_tool_choice_none_gets_no_call(client, tool_cases, tools, table, record,
                                       serving_version, tool_parser_note):
    """A request that says tool_choice "none" gets an answer, not a call: what a client relies
    on. vLLM before 0.24 attaches gpt-oss's calls whatever tool_choice says (server/stack.py):
    still a failure of the deployment's engine, named as such."""
    outcome = tool_calling.tool_choice_none(client, tool_cases[0], tools)
    record("tool_choice_none", outcome)
    if outcome.get("not_measured"):
        table.record("tools", "tool_choice none", rows.NOT_RUN,
                     f"not measured: {outcome['not_measured']}")
        pytest.fail(f"not measured: {outcome['not_measured']}{tool_parser_note}", pytrace=False)
    ok = outcome["problem"] is None
    problem = outcome["problem"]
    if not ok and not serving_version.has("harmony_honours_tool_choice_none"):
        problem += (f" [known engine limitation: vLLM {serving_version.version} attaches "
                    "gpt-oss's tool calls whatever tool_choice says; vLLM 0.24.0 and later "
                    "honour 'none' (server/stack.py: harmony_honours_tool_choice_none)]")
    table.record("tools", "tool_choice none", rows.PASSED if ok else rows.FAILED,
                 "no call" if ok else problem)
    assert ok, problem


def test_three_turn_conversation(client, limits, table, record):
    """Three user turns, each answer carried into the next request: every turn answers, each
    prompt carries the history, and (multi_turn_recall) the last answer recalls what the
    first turn said: the conversation is used, not just accepted."""
    if not limits["multi_turn"]:
        reason = ("the profile's model answers single turns only (multi_turn = false): its "
                  "later turns would judge the model, not the serving stack")
        table.record("tools", "three turns", rows.NOT_APPLICABLE, f"not applicable: {reason}")
        pytest.skip(f"not applicable: {reason}")
    outcome = tool_calling.three_turns(client, recall=limits["multi_turn_recall"])
    record("turns", outcome["turns"])
    ok = outcome["problem"] is None
    table.record("tools", "three turns", rows.PASSED if ok else rows.FAILED,
                 "3 turns answered" if ok else outcome["problem"])
    assert ok, outcome["problem"]


# --- reasoning ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def reasoning_run(client, server, ascend_settings):
    return reasoning.by_effort(client, server.base_url, ascend_settings.api_key)


def test_reasoning_arrives_separately(reasoning_run, table, record):
    """At every effort: the analysis in the reasoning field, a final answer in content, no
    harmony markup in either."""
    problems = reasoning_run["problems"]
    record("median_reasoning_tokens", reasoning_run["median_reasoning_tokens"])
    record("problems", problems[:5])
    n = len(reasoning_run["rows"])
    table.record("reasoning", "separated", rows.PASSED if not problems else rows.FAILED,
                 f"{n - len(problems)}/{n} replies (efforts low/medium/high) with reasoning "
                 "apart and a clean answer", **reasoning_run)
    assert not problems, f"{len(problems)} of {n} replies: {problems[:3]}"


def test_reasoning_grows_with_effort(reasoning_run, limits, table, record):
    """Median reasoning length at ``high`` above ``low`` (a real model reasons longer)."""
    medians = reasoning_run["median_reasoning_tokens"]
    record("median_reasoning_tokens", medians)
    if not limits["reasoning_grows"]:
        pytest.skip(f"not applicable: this profile's model answers in one shape at every "
                    f"effort (reasoning_grows = false); medians {medians}")
    low, high = medians["low"], medians["high"]
    grows = low is not None and high is not None and high > low
    table.record("reasoning", "effort", rows.PASSED if grows else rows.FAILED,
                 f"median reasoning tokens low {low}, medium {medians['medium']}, high {high}")
    assert grows, f"reasoning does not grow from low to high: {medians}"


# --- long prompt under chunked prefill ---------------------------------------------------------

def test_long_prompt_under_chunked_prefill(server, server_variant, limits, table, ascend_settings,
                                           progress, record):
    """The same needle case, at the longest length the profile asks within the server's
    limit, recalled by the server under test and by the same command with a small
    --max-num-batched-tokens (many prefill chunks, each past the sliding window)."""
    flags = rows.variant_flags("chunked_prefill", limits)
    tokens = limits["chunked_prefill_tokens"]
    with sync_client(server.base_url, ascend_settings.api_key) as http:
        limit = vllm.max_model_len(http, server.model)
    length = min(limits["chunked_prefill_length"], limit or limits["chunked_prefill_length"])
    record("length", length)
    case = Case("random", length, 50, seed=7)

    def recall(where):
        runner = Runner(where.base_url, where.model, NeedleSettings(),
                        api_key=ascend_settings.api_key, log_path=where.log_path,
                        progress=progress)
        try:
            return runner.run(case)
        finally:
            runner.close()

    # The whole prompt first: with one card the server under test steps aside for the variant.
    outcomes = {"whole": recall(server)}
    endpoint = _variant_or_stop(server_variant("chunked_prefill", flags), table,
                                "chunked_prefill", "needle", {})
    outcomes["chunked"] = recall(endpoint)
    for label, o in outcomes.items():
        record(f"{label}_recalled", o.passed)
        record(f"{label}_ttft_s", o.ttft_s, unit="s")
    ok = all(o.passed for o in outcomes.values())
    chunks = -(-length // tokens)
    table.record("chunked_prefill", "needle", rows.PASSED if ok else rows.FAILED,
                 f"needle at {length} tokens in ~{chunks} chunks of {tokens}: "
                 + ", ".join(f"{k} {o.verdict}" + (f" (TTFT {o.ttft_s:.1f} s)" if o.ttft_s else "")
                             for k, o in outcomes.items()),
                 **{k: o.as_dict() for k, o in outcomes.items()})
    assert ok, "; ".join(f"{k}: {o.verdict}" for k, o in outcomes.items())


# --- 131K context (after the long-context suite) ----------------------------------------------

@pytest.mark.ascend_last
def test_context_131k(server, ascend_settings, thresholds, results_store, table, progress,
                      record):
    """✅ only when the guide's long-context grid at 131,072 tokens (every depth, recall and
    TTFT) passed: in the results file given with --long-context-results, else in this
    session's long-context suite (``--ctx 131072``), else run here, the same cases judged by
    the same gates."""
    given = ascend_settings.long_context_results
    if given:
        status, note = rows.context_131k(rows.results_tests(given), str(given))
    else:
        status, note = rows.context_131k(results_store.data.get("tests", {}), "this session")
        if status == rows.NOT_RUN:
            status, note = _grid_131k(server, ascend_settings, thresholds, progress)
    record("context_131k", status)
    table.record("context_131k", "long-context grid", status, note)
    if status == rows.NOT_RUN:
        pytest.skip(f"not measured: {note}")
    assert status == rows.PASSED, note


def _grid_131k(server, s, thresholds, progress) -> tuple[str, str]:
    """The guide's grid at 131,072 tokens, run here (reports in features-131k/)."""
    plan = Plan((rows.GUIDE_CONTEXT,), rows.GUIDE_DEPTHS)
    run = LongContextRun(server.base_url, server.model, plan,
                         NeedleSettings(max_tokens=s.niah_max_tokens,
                                        reasoning_effort=s.niah_reasoning_effort or None,
                                        language=s.niah_language),
                         thresholds.values["long_context"], thresholds.sources("long_context"),
                         ReportPaths.in_directory(s.results_dir / "features-131k"),
                         thresholds.name, api_key=s.api_key, log_path=server.log_path,
                         progress=progress)
    try:
        gates = run.run_all()
        outcomes = run.outcomes
    finally:
        run.close()
    failed = [g.message() for g in gates if not g.passed]
    ttfts = ", ".join(f"{o.ttft_s:.1f}" if o.ttft_s is not None else "-" for o in outcomes)
    if failed:
        return rows.FAILED, (f"the grid at 131,072 tokens, run by this suite, failed: "
                             f"{'; '.join(failed[:3])}")
    return rows.PASSED, (f"needle recalled at 131,072 tokens, depths "
                         f"{', '.join(map(str, rows.GUIDE_DEPTHS))} %, TTFT {ttfts} s "
                         "(run by this suite: features-131k/long_context.md)")


from pytest_ascend_oss.load.loadgen import LoadResult
from pytest_ascend_oss.metrics.latency import run_metrics
from pytest_ascend_oss.suites.performance import bench, report, run
from pytest_ascend_oss.thresholds import load
from unit.metrics.test_latency import request

PERF = load(None, "atlas-800-a2").values["performance"]


def level(concurrency, token_ms):
    records = [request(start_ms=i * 10, ttft_ms=50, token_ms=token_ms) for i in range(10)]
    result = LoadResult(concurrency, None, records, [], duration_s=0.5)
    return bench.LevelRun(concurrency, "completions", result,
                                run_metrics(records, 0.5))


def gates(level_run):
    return run.gates(level_run, PERF, "results/performance/c.json", lambda k: f"toml {k}")


def test_slow_tokens_fail_tpot_with_value_threshold_and_evidence():
    by_name = {g.name: g for g in gates(level(1, token_ms=30))}
    tpot = by_name["median TPOT"]
    assert not tpot.passed
    message = tpot.message()
    assert "median TPOT = 30.00 ms" in message and "required < 20 ms" in message
    assert "results/performance/c.json:median_tpot_ms" in message and "toml tpot_max_ms" in message
    assert by_name["median TTFT"].passed  # 50 ms < 100 ms


def test_throughput_and_qps_are_gated_only_at_the_listed_levels():
    assert {g.name for g in gates(level(1, 10))} == {"median TTFT", "median TPOT"}
    names = {g.name for g in gates(level(16, 10))}
    assert {"output throughput", "QPS"} <= names


def test_json_speaks_vllm_bench_serve():
    out = bench.bench_json(level(4, 10), "m", "http://x")
    for key in ("completed", "failed", "duration", "total_input_tokens", "total_output_tokens",
                "request_throughput", "output_throughput", "total_token_throughput", "ttfts",
                "itls", "input_lens", "output_lens", "mean_ttft_ms", "median_tpot_ms",
                "p99_itl_ms", "median_e2el_ms", "max_concurrency"):
        assert key in out, key
    assert out["median_tpot_ms"] == 10.0 and out["ttfts"][0] == 0.05  # ms and s, as vLLM
    assert "definitions" in out["ascend_oss"] and out["ascend_oss"]["n"]["ttft_ms"] == 10


def test_table_marks_failing_rows_and_names_the_gate():
    rows = [(r, gates(r)) for r in (level(1, 10), level(16, 30))]
    table = report.markdown_table(rows, "atlas-800-a2")
    row1, row16 = [ln for ln in table.splitlines() if ln.startswith(("| 1 |", "| 16 |"))]
    assert "PASS" in row1 and "FAIL" in row16 and "median TPOT" in row16


def _validity(records, concurrency=1):
    result = LoadResult(concurrency, None, records, [], duration_s=0.5)
    level_run = bench.LevelRun(concurrency, "completions", result, run_metrics(records, 0.5))
    return run.validity_gates(level_run, PERF, "c.json", lambda k: f"toml {k}")


def test_a_level_where_nothing_completed_is_not_exact_by_default():
    """No completed request means no size was checked: unmeasured, never a pass."""
    dead = request()
    dead.error = "HTTP 500: boom"
    gates = _validity([dead])
    assert not gates["errors"].passed and "boom" in gates["errors"].message()
    for check in ("output_tokens", "prompt_tokens", "concurrency"):
        assert not gates[check].measured and not gates[check].passed, check


def test_sizes_are_checked_against_what_each_request_asked():
    records = [request(start_ms=i * 10) for i in range(4)]
    for r in records:
        r.requested_prompt_tokens, r.requested_output_tokens = 8, 6
    records[2].output_tokens = 5
    gates = _validity(records)
    assert gates["prompt_tokens"].passed
    assert not gates["output_tokens"].passed and "(6, 5)" in gates["output_tokens"].message()
    assert not gates["server_counters"].measured  # no /metrics in this run


def test_prompts_sized_without_a_tokenizer_are_never_exact_by_default():
    """No /tokenize and no --tokenizer: the requests asked no exact prompt length, so the
    check is unmeasured (and says why), never passed; output lengths are still checked."""
    records = [request(start_ms=i * 10) for i in range(4)]
    for r in records:
        r.requested_prompt_tokens, r.requested_output_tokens = None, 6
    gates = _validity(records)
    assert not gates["prompt_tokens"].measured and not gates["prompt_tokens"].passed
    assert "sized" in gates["prompt_tokens"].message()
    assert gates["output_tokens"].passed


def test_ttft_bound_per_concurrency_names_its_key():
    limits = {**PERF, "ttft_max_ms_by_concurrency": {16: 180.0}}
    by_name = {g.name: g for g in run.gates(level(16, 10), limits, "c.json", lambda k: k)}
    assert by_name["median TTFT"].bound == 180.0
    assert by_name["median TTFT"].source == "ttft_max_ms_by_concurrency.16"
    by_name = {g.name: g for g in run.gates(level(4, 10), limits, "c.json", lambda k: k)}
    assert by_name["median TTFT"].bound == PERF["ttft_max_ms"]  # not listed: the flat bound


def test_a_client_that_did_not_hold_its_load_fails_littles_law():
    """Little's law judges the load client, not the server: four requests one after another
    (each ~160 ms, started 200 ms apart) claimed as concurrency 4 had about one in flight."""
    records = [request(start_ms=i * 200) for i in range(4)]
    for r in records:
        r.requested_prompt_tokens, r.requested_output_tokens = 8, 6
    gates = _validity(records, concurrency=4)
    assert gates["concurrency"].measured and not gates["concurrency"].passed
    assert "requests in flight at concurrency 4" in gates["concurrency"].message()

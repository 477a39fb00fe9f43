"""Performance suite: the guide's benchmark (性能 Benchmark) as gates, one load run per concurrency.

Each concurrency level is measured once (closed loop, warm-up excluded, exact prompt and output
lengths) and every gate and validity check below reads that one run. The figures go to
``results/performance/c<N>.json`` in ``vllm bench serve --save-result`` form and to the guide's
table in ``results/performance.md``.
"""

from __future__ import annotations

import pytest

from pytest_ascend_oss.suites.performance.run import GATE_NAMES, PerformanceRun

pytestmark = pytest.mark.performance


@pytest.fixture(scope="session")
def perf(thresholds):
    return thresholds.values["performance"]


@pytest.fixture(scope="session")
def performance(server, ascend_settings, thresholds, perf, progress):
    """The run: ``performance.level(c)`` measures concurrency c on first use, once."""
    return PerformanceRun(server.base_url, server.model, perf, thresholds.sources("performance"),
                          ascend_settings.results_dir, thresholds.name,
                          api_key=ascend_settings.api_key, progress=progress)


@pytest.fixture(scope="session")
def measure(performance):
    return performance.level


def test_load_run(concurrency, measure, request, record):
    """Runs the level (timed by pytest-benchmark when it is active, which then carries the
    figures in extra_info) and records them as JUnit properties."""
    if request.config.pluginmanager.hasplugin("benchmark"):
        benchmark = request.getfixturevalue("benchmark")
        level = benchmark.pedantic(measure, args=(concurrency,), rounds=1, iterations=1)
    else:
        benchmark, level = None, measure(concurrency)
    m = level.metrics
    figures = {
        "concurrency": concurrency, "completed": m["completed"], "failed": m["failed"],
        "median_ttft_ms": m["ttft_ms"]["median"], "median_tpot_ms": m["tpot_ms"]["median"],
        "median_itl_ms": m["itl_ms"]["median"], "median_e2el_ms": m["e2el_ms"]["median"],
        "output_throughput": m["output_throughput"], "request_throughput": m["request_throughput"],
        "mean_in_flight": m["mean_in_flight"],
    }
    if benchmark is not None:
        benchmark.extra_info.update(figures)
    for name, value in figures.items():
        record(name, value)
    assert m["completed"] > 0, f"no request of the c={concurrency} run completed"


@pytest.mark.parametrize("gate", GATE_NAMES)
def test_guide_target(concurrency, gate, performance, thresholds, record):
    found = performance.gate(concurrency, gate)
    if found is None:
        pytest.skip(f"{gate} is gated only at concurrency "
                    f"{thresholds.get('performance', 'throughput_gate_concurrency')}")
    record.gate(found)
    assert found.passed, found.message()


# --- validity of the measurement itself ------------------------------------------------------

def test_no_failed_requests(concurrency, measure, perf, record):
    records = measure(concurrency).result.records
    failed = [r for r in records if not r.ok]
    rate = len(failed) / len(records)
    record("error_rate", rate, threshold=perf["max_error_rate"])
    assert rate <= perf["max_error_rate"], (
        f"{len(failed)}/{len(records)} requests failed (budget {perf['max_error_rate']:.0%}); "
        f"first errors: {[r.error for r in failed[:3]]}"
    )


def test_output_tokens_are_exactly_as_requested(concurrency, measure, perf):
    records = [r for r in measure(concurrency).result.records if r.ok]
    wrong = [r.output_tokens for r in records if r.output_tokens != perf["output_tokens"]]
    assert not wrong, (f"{len(wrong)}/{len(records)} requests returned other than "
                       f"{perf['output_tokens']} tokens: {wrong[:10]}")


def test_prompt_tokens_are_exactly_as_requested(concurrency, measure, perf):
    records = [r for r in measure(concurrency).result.records if r.ok]
    wrong = [r.prompt_tokens for r in records if r.prompt_tokens != perf["prompt_tokens"]]
    assert not wrong, (f"{len(wrong)}/{len(records)} prompts were not {perf['prompt_tokens']} "
                       f"tokens by the server's count: {wrong[:10]}")


def test_no_prompt_tokens_came_from_the_prefix_cache(concurrency, measure):
    level = measure(concurrency)
    reported = [r.cached_tokens for r in level.result.records if r.cached_tokens is not None]
    counters = level.result.server_counters or {}
    if not reported and "prefix_cache_hits" not in counters:
        pytest.skip("the server reports cached tokens neither in usage nor in /metrics")
    hits = sum(reported) if reported else counters["prefix_cache_hits"]
    assert hits == 0, f"{hits:.0f} prompt tokens were served from the prefix cache: TTFT is flattered"


def test_concurrency_holds_by_littles_law(concurrency, measure, perf, record):
    level = measure(concurrency)
    in_flight = level.metrics["mean_in_flight"]
    ratio = in_flight / concurrency
    record("in_flight_ratio", ratio, threshold=1 - perf["concurrency_tolerance"])
    assert abs(ratio - 1) <= perf["concurrency_tolerance"], (
        f"QPS x mean E2EL = {in_flight:.2f} requests in flight, configured concurrency "
        f"{concurrency} (tolerance {perf['concurrency_tolerance']:.0%}): the client did not "
        "hold the load it claims"
    )


def test_server_counters_agree_with_the_client(concurrency, measure):
    level = measure(concurrency)
    counters = level.result.server_counters
    if not counters:
        pytest.skip("the server exposes no vLLM counters at /metrics")
    ok = [r for r in level.result.records if r.ok]
    expected = {"requests": len(ok), "output_tokens": sum(r.output_tokens for r in ok),
                "prompt_tokens": sum(r.prompt_tokens for r in ok)}
    differ = {k: (counters[k], v) for k, v in expected.items() if k in counters
              and counters[k] != v}
    assert not differ, f"server /metrics vs client counts (server, client): {differ}"

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
        pytest.skip(f"not applicable: {gate} is gated only at concurrency "
                    f"{thresholds.get('performance', 'throughput_gate_concurrency')}")
    record.gate(found)
    assert found.passed, found.message()


def test_capacity_at_the_guide_targets(performance, thresholds, record):
    """The largest concurrency at which the profile's share of requests meets both latency
    targets, found by doubling then bisecting (``ascend-oss capacity`` does the same)."""
    gate = performance.capacity()
    if gate is None:
        pytest.skip("not applicable: the profile gates no capacity (capacity_min = 0)")
    record.gate(gate)
    assert gate.passed, gate.message()


# --- validity of the measurement itself ------------------------------------------------------

def _valid(performance, concurrency, check, record=None):
    gate = performance.validity(concurrency)[check]
    if not gate.measured:
        pytest.skip(gate.message())  # nothing to read: not a pass
    if record is not None:
        record.gate(gate)
    assert gate.passed, gate.message()


def test_no_failed_requests(concurrency, performance, record):
    _valid(performance, concurrency, "errors", record)


def test_output_tokens_are_exactly_as_requested(concurrency, performance):
    gate = performance.validity(concurrency)["output_tokens"]
    assert gate.measured and gate.passed, gate.message()  # no completed request: a failure


def test_prompt_tokens_are_exactly_as_requested(concurrency, performance):
    gate = performance.validity(concurrency)["prompt_tokens"]
    assert gate.measured and gate.passed, gate.message()


def test_no_prompt_tokens_came_from_the_prefix_cache(concurrency, performance):
    _valid(performance, concurrency, "prefix_cache")


def test_concurrency_holds_by_littles_law(concurrency, performance, record):
    _valid(performance, concurrency, "concurrency", record)


def test_server_counters_agree_with_the_client(concurrency, performance):
    _valid(performance, concurrency, "server_counters")

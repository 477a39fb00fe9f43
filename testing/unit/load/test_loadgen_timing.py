"""The harness measures TTFT, TPOT and ITL within 2 % of a server whose timing is known."""

from __future__ import annotations

import pytest
from fakes import synthetic_stream

from pytest_ascend_oss.load.run import run
from pytest_ascend_oss.load.workload import PreparedRequest
from pytest_ascend_oss.metrics.latency import run_metrics

TTFT_MS, TOKEN_MS, TOKENS = 200.0, 20.0, 32


@pytest.fixture(scope="module")
def synthetic_url():
    with synthetic_stream.serving(TTFT_MS, TOKEN_MS) as url:
        yield url


def requests(count: int) -> list[PreparedRequest]:
    body = {"model": "synthetic", "prompt": [1, 2, 3], "max_tokens": TOKENS}
    return [PreparedRequest("/v1/completions", body, 3, TOKENS) for _ in range(count)]


# One process here: the timing of several (three processes then share 2 cores with the server)
# is shown by benchmarks/load_workers.py, which prints figures; a timed unit test of it failed
# once in four full unit runs on a quiet box. test_workers.py checks their records and clock.
@pytest.mark.parametrize("concurrency,workers", [(1, 1), (16, 1)])
def test_measured_timing_is_within_two_percent_of_the_truth(synthetic_url, concurrency, workers):
    result = run(synthetic_url, requests(concurrency * 4), concurrency, warmup=concurrency,
                 workers=workers, progress=lambda m: None)
    assert result.workers == workers
    m = run_metrics(result.records, result.duration_s)
    assert m["failed"] == 0
    assert m["total_output_tokens"] == TOKENS * concurrency * 3
    for name, truth in (("ttft_ms", TTFT_MS), ("tpot_ms", TOKEN_MS), ("itl_ms", TOKEN_MS)):
        median = m[name]["median"]
        assert abs(median - truth) / truth <= 0.02, f"{name} median {median:.2f} vs truth {truth}"
    # The role-only first chunk is not a token: vLLM-style TTFT is far earlier than ours.
    assert m["ttft_first_chunk_ms"]["median"] < TTFT_MS / 2
    # Little's law holds for a closed loop at this concurrency.
    assert m["mean_in_flight"] == pytest.approx(concurrency, rel=0.15)

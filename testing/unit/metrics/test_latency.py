import pytest

from pytest_ascend_oss.metrics.latency import RequestRecord, run_metrics, statistic, summarize

MS = 1_000_000


def request(start_ms=0, ttft_ms=100, token_ms=10, chunks=(1, 3, 2), cached=None):
    """A request whose token events are spaced token_ms per token, grouped as ``chunks``."""
    record = RequestRecord(start_ns=start_ms * MS, first_chunk_ns=(start_ms + 1) * MS,
                           prompt_tokens=8, cached_tokens=cached)
    t, sent = start_ms + ttft_ms, 0
    for size in chunks:
        at = t + (sent + size - 1) * token_ms
        record.token_events.append((at * MS, size))
        sent += size
    record.first_token_ns = record.token_events[0][0]
    record.last_token_ns = record.token_events[-1][0]
    record.output_tokens = sent
    return record


def test_per_request_definitions():
    r = request()
    assert r.ttft_s == pytest.approx(0.100)
    assert r.ttft_first_chunk_s == pytest.approx(0.001)
    assert r.e2el_s == pytest.approx(0.150)  # last of 6 tokens at 100 + 5 x 10 ms
    assert r.tpot_s == pytest.approx(0.010)
    assert r.itl_s() == pytest.approx([0.010] * 5)  # 30 ms gap over 3 tokens, 20 over 2


def test_single_token_requests_have_no_tpot():
    assert request(chunks=(1,)).tpot_s is None


def test_summary_uses_linear_interpolation_and_reports_n():
    s = summarize([1, 2, 3, 4], scale=1000)
    assert s["n"] == 4 and s["median"] == 2500 and s["p90"] == pytest.approx(3700)
    assert summarize([])["n"] == 0


def test_p99_needs_a_hundred_samples():
    with pytest.raises(ValueError, match="p99 needs n >= 100"):
        statistic(summarize(list(range(20))), "p99")
    assert statistic(summarize(list(range(100))), "p99") == pytest.approx(98.01)
    with pytest.raises(ValueError, match="unknown statistic"):
        statistic(summarize([1]), "p95")


def test_run_figures_count_failures_and_use_wall_time():
    ok = [request(start_ms=i * 150) for i in range(4)]
    failed = RequestRecord(start_ns=0, error="HTTP 500")
    m = run_metrics(ok + [failed], duration_s=0.6, slo_ttft_ms=50)
    assert m["completed"] == 4 and m["failed"] == 1
    assert m["output_throughput"] == pytest.approx(24 / 0.6)
    assert m["request_throughput"] == pytest.approx(4 / 0.6)
    assert m["request_goodput"] == 0  # every TTFT (100 ms) misses the 50 ms SLO
    assert m["mean_in_flight"] == pytest.approx(4 * 0.150 / 0.6)
    assert m["ttft_ms"]["median"] == pytest.approx(100)

"""The capacity search: doubling then bisection, against servers whose capacity is known."""

from __future__ import annotations

import asyncio

import pytest
from fakes import synthetic_stream

from pytest_ascend_oss.load.loadgen import run_load
from pytest_ascend_oss.load.workload import PreparedRequest
from pytest_ascend_oss.suites.performance import capacity
from pytest_ascend_oss.suites.performance.capacity import CapacityError, Probe, Slo


def closed_form(truth: int, calls: list[int]):
    """A measure whose attainment is 1 up to ``truth`` streams and 0 beyond."""
    def measure(c: int) -> Probe:
        calls.append(c)
        return Probe(c, 4 * c, 1.0 if c <= truth else 0.0, float(c), 10.0, 10.0, 0)
    return measure


@pytest.mark.parametrize("truth", [1, 2, 3, 20, 37, 64, 100])
def test_the_search_finds_the_exact_capacity_in_few_probes(truth):
    calls: list[int] = []
    found = capacity.search(closed_form(truth, calls), 0.9, progress=lambda m: None)
    assert found["capacity"] == truth and found["bounded"]
    assert len(calls) == len(set(calls)) <= 2 * truth.bit_length() + 1
    assert found["goodput"] == float(truth)


def test_a_server_that_misses_at_one_stream_has_no_capacity():
    found = capacity.search(closed_form(0, []), 0.9, progress=lambda m: None)
    assert found["capacity"] == 0 and found["goodput"] == 0.0


def test_a_start_above_the_capacity_bisects_down_to_it():
    calls: list[int] = []
    found = capacity.search(closed_form(5, calls), 0.9, start=16, progress=lambda m: None)
    assert found["capacity"] == 5 and calls[0] == 16


def test_the_limit_bounds_the_search_and_says_so():
    found = capacity.search(closed_form(5000, []), 0.9, limit=100, progress=lambda m: None)
    assert found["capacity"] == 100 and not found["bounded"]


@pytest.mark.parametrize("text, slo", [
    ("ttft_ms=100,tpot_ms=20", Slo(100.0, 20.0)), ("tpot_ms=30.5", Slo(None, 30.5)),
    (" ttft_ms = 250 ", Slo(250.0, None))])
def test_slo_text_parses(text, slo):
    assert capacity.parse_slo(text) == slo


@pytest.mark.parametrize("text, message", [
    ("", "at least one objective"), ("e2el_ms=3", "KEY one of ttft_ms, tpot_ms"),
    ("ttft_ms=-1", "not a positive number"), ("tpot_ms", "expected KEY=MS"),
    ("ttft_ms=abc", "not a positive number")])
def test_bad_slo_text_says_what_is_wrong(text, message):
    with pytest.raises(CapacityError, match=message):
        capacity.parse_slo(text)


@pytest.mark.parametrize("target", [0, 1.5, -0.1])
def test_an_attainment_outside_0_1_is_refused(target):
    with pytest.raises(CapacityError, match="must be in"):
        capacity.search(closed_form(3, []), target)


TOKEN_MS, PER_STREAM_MS, SLO_TPOT_MS, TOKENS = 10.0, 1.0, 30.5, 16


@pytest.fixture(scope="module")
def batch_slowed_url():
    """A synthetic server whose TPOT is 10 ms + 1 ms per stream in flight: within a TPOT
    objective of 30.5 ms it carries exactly 20 streams."""
    with synthetic_stream.serving(20, TOKEN_MS, PER_STREAM_MS) as url:
        yield url


def test_the_search_finds_a_real_servers_capacity_within_one_step(batch_slowed_url):
    slo = Slo(ttft_ms=1000, tpot_ms=SLO_TPOT_MS)
    truth = int((SLO_TPOT_MS - TOKEN_MS) / PER_STREAM_MS)  # 20

    def measure(c: int) -> Probe:
        body = {"model": "synthetic", "prompt": [1, 2, 3], "max_tokens": TOKENS}
        requests = [PreparedRequest("/v1/completions", body, 3, TOKENS) for _ in range(5 * c)]
        result = asyncio.run(run_load(batch_slowed_url, requests, c, warmup=c,
                                      progress=lambda m: None))
        return capacity.probe_from(c, result.records, result.duration_s, slo)

    found = capacity.search(measure, 0.9, progress=lambda m: None)
    assert abs(found["capacity"] - truth) <= 1, found
    at = {p["concurrency"]: p for p in found["probes"]}
    assert at[1]["median_tpot_ms"] == pytest.approx(TOKEN_MS + PER_STREAM_MS, rel=0.05)
    assert at[16]["median_tpot_ms"] == pytest.approx(TOKEN_MS + 16 * PER_STREAM_MS, rel=0.05)
    assert at[32]["attainment"] < 0.1 and at[16]["attainment"] == 1.0

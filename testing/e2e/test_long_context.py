"""The long-context suite against the real embedded canary: green when healthy; red, with the
reason, when the server's context is too short or when it always answers "7842"."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import breaking_proxy
from pytest_ascend_oss.server.launcher import launch

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _serve(tmp_path_factory, max_model_len: int | None = None):
    from pytest_ascend_oss.embedded.serve import embedded_command

    kwargs = {"max_model_len": max_model_len} if max_model_len else {}
    argv, env = embedded_command(log=lambda m: None, **kwargs)
    return launch(argv, tmp_path_factory.mktemp("embedded"), 600, env=env, progress=lambda m: None)


def all_variants(tmp_path, ttft_max_s: float | None = None):
    """The shipped cpu-canary profile with every variant on (and optionally another TTFT)."""
    from pytest_ascend_oss.thresholds import DEFAULT_FILE

    text = DEFAULT_FILE.read_text()
    section = text[text.index('["cpu-canary".long_context]'):]
    section = section[:section.index('["cpu-canary".performance]')]
    changed = re.sub(r"(?m)^variants = .*$", 'variants = ["random", "keyed", "none"]', section)
    if ttft_max_s is not None:
        changed = re.sub(r"(?m)^ttft_max_s = .*$", f"ttft_max_s = {ttft_max_s}", changed)
        changed = re.sub(r"(?m)^ttft_max_s_by_length = .*$", "ttft_max_s_by_length = {}",
                         changed)  # the flat bound at every length
    path = tmp_path / "thresholds.toml"
    path.write_text(text.replace(section, changed))
    return str(path)


def run_suite(pytester, url, *args):
    pytester.copy_example(str(ROOT / "tests" / "test_long_context.py"))
    return pytester.runpytest_subprocess("-m", "long_context", "--base-url", url, "--profile",
                                         "cpu-canary", "-p", "no:cacheprovider", *args,
                                         timeout=900)


# A keyed miss as the canary makes them: the asked name, a code off by a digit token.
KEYED_MISS = re.compile(r"expected \d{4}, the answer says 'The secret code for \w+ is \d{4}\.'")


def test_long_context_suite_passes_on_the_canary(pytester, embedded_url, tmp_path):
    """Every variant runs and is judged, and every gate the cpu-canary profile holds passes.
    Keyed needles are judged too but may miss: the canary recalls them short of exactly
    (docs/canary.md: 15/16 and 5/6 for stage 2, and stage 6 answered "The secret code for Sam
    is 5470." for 5472 at 8K in a CI run), which is why the profile does not gate them. A miss
    must then be the keyed test alone, its verdict naming the code expected and the answer."""
    result = run_suite(pytester, embedded_url, "--niah-lengths", "1024,8192",
                       "--niah-depths", "0,50,100", "--thresholds", all_variants(tmp_path))
    # 6 grid points x (recall, TTFT) + 2 lengths x (random, keyed, none) + the recall gate
    failed = [line for line in result.outlines if line.startswith("FAILED ")]
    assert all(line.startswith("FAILED test_long_context.py::test_keyed_needle_recalled[")
               for line in failed), failed
    assert result.parseoutcomes().get("passed", 0) == 19 - len(failed), result.parseoutcomes()
    results = pytester.path / "results"
    report = json.loads((results / "long_context_report.json").read_text())
    misses = [c for c in report["cases"] if not c["passed"]]
    assert len(misses) == len(failed)
    assert all(c["case"]["kind"] == "keyed" and KEYED_MISS.fullmatch(c["verdict"]) for c in misses)
    for case in report["cases"]:
        assert abs(case["context_tokens"] - case["case"]["length"]) <= case["case"]["length"] / 100
        assert case["server_prompt_tokens"] == case["prompt_tokens"]
        if case["case"]["kind"] == "guide":
            assert abs(case["actual_depth"] - case["case"]["depth"]) < 5
    assert "| 0% | ~1K" in (results / "long_context.md").read_text()
    assert (results / "long_context_heatmap.png").stat().st_size > 1000


def test_cases_longer_than_the_servers_context_fail_saying_so(pytester, tmp_path_factory):
    server, endpoint = _serve(tmp_path_factory, max_model_len=4096)
    try:
        result = run_suite(pytester, endpoint.base_url, "--niah-lengths", "2048,8192",
                           "--niah-depths", "50", "-k", "test_needle")
    finally:
        server.stop()
    out = result.stdout.str()
    result.assert_outcomes(passed=2, failed=2)  # 2048 recalled and fast; 8192 refused
    assert "max_model_len is 4096 tokens, below this case's 8192" in out


def test_a_server_that_always_says_7842_fails_the_random_code_variant(pytester, embedded_url,
                                                                     tmp_path):
    with breaking_proxy(embedded_url, "--fault", "always-7842") as url:
        result = run_suite(pytester, url, "--niah-lengths", "1024",
                           "--niah-depths", "50", "--thresholds", all_variants(tmp_path))
    out = result.stdout.str()
    # The guide's fixed needle is "recalled" by a server that just says 7842 ...
    assert "FAILED test_long_context.py::test_needle_recalled" not in out
    # ... the random code and the empty haystack are not.
    assert "FAILED test_long_context.py::test_random_code_recalled[ctx=1024]" in out
    assert "FAILED test_long_context.py::test_no_needle_no_code[ctx=1024]" in out
    assert "expected " in out and "the answer says 'The secret code is 7842.'" in out


def test_a_slow_first_token_fails_the_ttft_gate(pytester, embedded_url, tmp_path):
    """A proxy holding the first token 1.5 s against a profile that allows 1 s at these lengths."""
    thresholds = all_variants(tmp_path, ttft_max_s=1.0)
    with breaking_proxy(embedded_url, "--fault", "first-token-delay", "--delay-ms", "1500") as url:
        result = run_suite(pytester, url, "--niah-lengths", "1024", "--niah-depths", "50",
                           "--thresholds", thresholds, "-k", "test_needle")
    out = result.stdout.str()
    result.assert_outcomes(passed=1, failed=1)  # recalled, but too slow
    assert "required < 1 s" in out and "ctx=1024-depth=50: TTFT" in out


def test_a_second_run_against_the_same_server_is_not_served_from_its_prefix_cache(
        pytester, embedded_url):
    """vLLM keeps a served prompt in its prefix cache: the same haystack sent again is prefilled
    from cache, and its TTFT says nothing about prefill. An attached server judged twice (a
    rerun after a failure) must be measured both times: each run salts the cache."""
    ttfts = []
    for _ in range(2):
        result = run_suite(pytester, embedded_url, "--niah-lengths", "32768", "--niah-depths",
                           "50", "-k", "test_needle_ttft")
        result.assert_outcomes(passed=1)
        report = json.loads((pytester.path / "results" / "long_context_report.json").read_text())
        ttfts.append(report["cases"][0]["ttft_s"])
    assert ttfts[1] > 0.5 * ttfts[0], f"second run's TTFT {ttfts[1]:.3f} s vs {ttfts[0]:.3f} s"

"""The features suite against real embedded servers: graph-vs-eager parity fails when the
"eager" server differs (perturbed weights named by --eager-url); an attached run without the
variants' URLs reports those rows "not run" and the suite INCOMPLETE, never PASS; the 131K row
follows a given long-context results file, both ways. The no-tool-parser, broken-tool-JSON and
reasoning faults are the self-check's (testing/e2e/test_selfcheck.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from embedded_server import serving

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def perturbed_url(tmp_path_factory):
    """The canary with noise of 0.3 std on every weight."""
    with serving(tmp_path_factory.mktemp("perturbed"), perturb=0.3, max_model_len=4096,
                 kv_cache_gib="1") as url:
        yield url


def run(pytester, url, *args):
    pytester.copy_example(str(ROOT / "tests" / "test_features.py"))
    return pytester.runpytest_subprocess("-m", "features", "--base-url", url, "--profile",
                                         "cpu-canary", "-p", "no:cacheprovider", "-rfs", *args,
                                         timeout=900)


def test_an_eager_server_that_differs_fails_graph_parity(embedded_url, perturbed_url, pytester):
    result = run(pytester, embedded_url, "--eager-url", perturbed_url,
                 "--results-dir", str(pytester.path / "r"), "-k", "graph_mode_matches_eager")
    out = result.stdout.str()
    for batch in (1, 4, 16):
        assert f"FAILED test_features.py::test_graph_mode_matches_eager[batch={batch}]" in out, \
            out[-3000:]
    assert "graph mode and eager gave different greedy ids" in out
    table = (pytester.path / "r" / "features.md").read_text()
    assert "| ACLGraph (graph mode vs --enforce-eager) | ❌ failed |" in table, table


def test_rows_without_their_servers_are_not_run_never_passed(embedded_url, pytester):
    result = run(pytester, embedded_url, "--results-dir", str(pytester.path / "r"),
                 "-k", "graph_mode or parallel or dtype or chunked")
    out = result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped") == 9 and not outcomes.get("passed"), out[-2000:]
    assert "give --eager-url URL" in out and "give --tp-url URL" in out
    assert "no launch log to read the engine's dtype" in out
    assert "features      INCOMPLETE" in out, out[-1500:]
    table = (pytester.path / "r" / "features.md").read_text()
    for row in ("ACLGraph (graph mode vs --enforce-eager)", "Tensor Parallel",
                "Pipeline Parallel", "Expert Parallel", "BF16",
                "Long prompts under chunked prefill"):
        assert f"| {row} | — not run |" in table, table
    assert "✅" not in table


def _results(path: Path, failed_depth: int | None) -> Path:
    tests = {}
    for kind in ("recalled", "ttft"):
        for depth in (0, 25, 50, 75, 100):
            outcome = "failed" if (kind, depth) == ("ttft", failed_depth) else "passed"
            tests[f"tests/test_long_context.py::test_needle_{kind}[ctx=131072-depth={depth}]"] \
                = {"outcome": outcome}
    path.write_text(json.dumps({"tests": tests}))
    return path


@pytest.mark.parametrize("failed_depth, verdict", [(None, "✅ measured"), (75, "❌ failed")])
def test_the_131k_row_follows_a_given_results_file(embedded_url, pytester, failed_depth,
                                                  verdict):
    given = _results(pytester.path / "lc.json", failed_depth)
    result = run(pytester, embedded_url, "--results-dir", str(pytester.path / "r"),
                 "--long-context-results", str(given), "-k", "context_131k")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed" if failed_depth is None else "failed") == 1, \
        result.stdout.str()[-2000:]
    table = (pytester.path / "r" / "features.md").read_text()
    assert f"| 131K context | {verdict} |" in table, table

"""The precision suite against real embedded servers: a float32 baseline is recorded, the same
model in bfloat16 passes it, a weight-perturbed copy fails it with the worst prompts shown, and a
baseline recorded with other settings is refused naming the field. A small prompt set and 64
tokens keep it short; the full set is the acceptance run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_ascend_oss.embedded.model import model_dir
from pytest_ascend_oss.embedded.serve import embedded_command
from pytest_ascend_oss.server.launcher import launch
from pytest_ascend_oss.suites.precision.prompts import load_prompts

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = model_dir()  # now: pytester points HOME (and so the cache) elsewhere later
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """The embedded model served three ways: float32 (the reference), bfloat16, perturbed."""
    started, urls = [], {}
    try:
        for name, kwargs in (("fp32", {"dtype": "float32"}), ("bf16", {}),
                             ("perturbed", {"perturb": 1.0})):
            argv, env = embedded_command(log=lambda m: None, **kwargs)
            proc, endpoint = launch(argv, tmp_path_factory.mktemp(name), 600, env=env,
                                    on_start=started.append, progress=lambda m: None)
            urls[name] = endpoint.base_url
        yield urls
    finally:
        for proc in started:
            proc.stop()


@pytest.fixture(scope="module")
def small_prompts(tmp_path_factory):
    data, _ = load_prompts(None)
    data["prompts"] = [p for p in data["prompts"] if p["id"].endswith("-01")]  # one per kind
    path = tmp_path_factory.mktemp("prompts") / "prompts.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    return path


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    return tmp_path_factory.mktemp("baseline") / "fp32.json.gz"


def run(pytester, url, *args):
    pytester.copy_example(str(ROOT / "tests" / "test_precision.py"))
    return pytester.runpytest_subprocess("-m", "precision", "--base-url", url,
                                         "--profile", "cpu-canary", "-p", "no:cacheprovider", "-rfs",
                                         *args, timeout=600)


def test_record_then_bf16_passes_and_perturbed_fails(pytester, servers, small_prompts, recorded):
    common = ("--prompts", str(small_prompts), "--precision-max-tokens", "64")
    result = run(pytester, servers["fp32"], "--record-baseline", str(recorded), *common)
    result.assert_outcomes(passed=1, skipped=4)
    assert recorded.is_file()
    verdicts = json.loads((pytester.path / "results" / "results.json").read_text())["verdicts"]
    assert verdicts == {"precision": "RECORDED"}, "a recording run judges nothing: never PASS"

    healthy_dir, broken_dir = pytester.path / "healthy", pytester.path / "broken"
    healthy = run(pytester, servers["bf16"], "--baseline", str(recorded),
                  "--checkpoint", str(CHECKPOINT), "--results-dir", str(healthy_dir), *common)
    assert healthy.parseoutcomes().get("passed") == 4, healthy.stdout.str()[-800:]
    table = (healthy_dir / "precision.md").read_text()
    assert table.count("PASS") == 4

    broken = run(pytester, servers["perturbed"], "--baseline", str(recorded),
                 "--results-dir", str(broken_dir), *common)
    out = broken.stdout.str()
    assert "FAILED test_precision.py::test_token_match_rate" in out
    assert "FAILED test_precision.py::test_rouge_l" in out
    assert "worst prompts:" in out and "diverges at token" in out and "reference:" in out

    # The two runs side by side: the precision verdict flips, with its deltas.
    from pytest_ascend_oss.cli import main

    compared = pytester.path / "compare.md"
    assert main(["report", "--compare", str(healthy_dir), str(broken_dir),
                 "--output", str(compared)]) == 0
    text = compared.read_text()
    assert "| precision | PASS | FAIL | **changed** |" in text
    assert "| `test_token_match_rate` | ✅ PASS | ❌ FAIL |" in text
    row = next(ln for ln in text.splitlines()
               if ln.startswith("| `test_token_match_rate` **changed** | token match rate |"))
    assert "| 1 |" in row and " % |" in row, row  # A's 1.0, B's lower, the delta and the %


def test_attached_without_a_reference_fails_every_criterion_with_the_remedy(
        pytester, servers, small_prompts):
    """Missing evidence is never a pass: no baseline and no reference server, attached (no
    float32 twin to start): each of the four criteria fails, naming how to record one."""
    result = run(pytester, servers["bf16"], "--prompts", str(small_prompts),
                 "--precision-max-tokens", "16")
    out = result.stdout.str()
    assert result.ret == 1
    # each criterion errors in its setup with the remedy; the skip: "not applicable: not recording"
    result.assert_outcomes(errors=4, skipped=1)
    assert out.count("not measured: no reference to compare with") >= 4
    assert "--record-baseline baseline.json" in out and "--baseline-url URL" in out
    results = json.loads((pytester.path / "results" / "results.json").read_text())
    assert results["verdicts"] == {"precision": "FAIL"}


def test_baseline_with_other_max_tokens_is_refused(pytester, servers, small_prompts, recorded):
    if not recorded.is_file():
        pytest.skip("needs the baseline of the previous test")
    result = run(pytester, servers["bf16"], "--baseline", str(recorded), "--prompts",
                 str(small_prompts), "--precision-max-tokens", "128")
    out = result.stdout.str()
    assert result.ret == 1
    assert "sampling.max_tokens = 64, this run uses 128" in out


def test_chat_endpoint_mode_against_a_live_reference(pytester, servers, small_prompts):
    """Chat mode: both servers render the prompts themselves (same day, same vLLM: same ids)."""
    result = run(pytester, servers["bf16"], "--baseline-url", servers["fp32"],
                 "--precision-endpoint", "chat", "--prompts", str(small_prompts),
                 "--precision-max-tokens", "64")
    assert result.parseoutcomes().get("passed") == 3, result.stdout.str()[-1500:]
    report = json.loads((pytester.path / "results" / "precision_report.json").read_text())
    assert report["prompts_with_different_input"] == 0
    assert report["token_match_rate"] == 1.0

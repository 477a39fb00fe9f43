"""The plugin end to end, in real pytest subprocesses, against the fake `vllm` and (slow) the
embedded vLLM CPU server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from browser import chromium, open_page
from junit_schema import problems
from pytest_output import before_recap

from conftest import FAKE_CMD, FAKE_VLLM, alive, pids_in

ROOT = Path(__file__).resolve().parents[2]
SERVER_TEST = """
import pytest

@pytest.mark.smoke
def test_uses_server(server):
    assert server.model

@pytest.mark.smoke
def test_fails_on_purpose(server):
    assert False, "a failing test must still tear the server down"
"""


def fake_run(pytester, monkeypatch, mode, *args, children=0, timeout=120):
    monkeypatch.setenv("FAKE_MODE", mode)
    monkeypatch.setenv("FAKE_CHILDREN", str(children))
    pytester.makepyfile(test_server=SERVER_TEST)
    return pytester.runpytest_subprocess("--server-cmd", FAKE_CMD, "-p", "no:cacheprovider",
                                         *args, timeout=timeout)


def test_npu_oom_fails_fast_quoting_line_and_remedy(pytester, monkeypatch, fake_env):
    t0 = time.monotonic()
    result = fake_run(pytester, monkeypatch,
                      "print:RuntimeError: NPU out of memory. Tried to allocate 2.00 GiB",
                      "-m", "smoke")
    elapsed = time.monotonic() - t0
    out = result.stdout.str()
    assert result.ret == 1
    assert "RuntimeError: NPU out of memory. Tried to allocate 2.00 GiB" in out
    for step in ("--max-model-len", "--max-num-seqs", "--gpu-memory-utilization 0.85",
                 "PYTORCH_NPU_ALLOC_CONF=expandable_segments:True"):
        assert step in out
    assert elapsed < 15, f"took {elapsed:.1f} s"
    assert not [p for p in pids_in(fake_env) if alive(p)]


@pytest.fixture
def vllm_on_path(monkeypatch):
    """`vllm` as an activated environment has it (the plugin checks the command's executable
    before anything else; the project's scripts run the venv's python without activating)."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def test_mxfp4_checkpoint_is_refused_before_anything_starts(pytester, tmp_path, vllm_on_path):
    model = tmp_path / "gpt-oss-20b"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(
        {"model_type": "gpt_oss", "quantization_config": {"quant_method": "mxfp4"}}))
    pytester.makepyfile(test_server=SERVER_TEST)
    t0 = time.monotonic()
    result = pytester.runpytest_subprocess(
        "--server-cmd", f"vllm serve {model} --dtype bfloat16", "-m", "smoke")
    assert time.monotonic() - t0 < 10
    out = result.stdout.str()
    assert "MXFP4" in out and "--dtype bfloat16 does not dequantize" in out and "BF16 checkpoint" in out
    assert not list((pytester.path / "results").glob("server-*.log")), "something was started"


def test_gpt_oss_without_offline_vocab_is_refused(pytester, tmp_path, monkeypatch,
                                                  vllm_on_path):
    model = tmp_path / "gpt-oss-20b"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "gpt_oss"}))
    monkeypatch.setenv("TIKTOKEN_ENCODINGS_BASE", str(tmp_path / "empty"))
    pytester.makepyfile(test_server=SERVER_TEST)
    result = pytester.runpytest_subprocess("--server-cmd", f"vllm serve {model}")
    out = result.stdout.str()
    assert "o200k_base.tiktoken does not exist" in out and "ascend-oss vocab DIR" in out


def test_misspelt_threshold_key_is_a_usage_error(pytester, tmp_path):
    from pytest_ascend_oss.thresholds import DEFAULT_FILE

    bad = tmp_path / "thresholds.toml"
    bad.write_text(DEFAULT_FILE.read_text().replace("ttft_max_s = 5.0", "ttft_max_sec = 5.0"))
    pytester.makepyfile(test_server=SERVER_TEST)
    result = pytester.runpytest_subprocess("--thresholds", str(bad), "--base-url", "http://x:1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown key 'ttft_max_sec'" in result.stderr.str()


def test_normal_end_and_failing_test_leave_no_process(pytester, monkeypatch, fake_env):
    result = fake_run(pytester, monkeypatch, "serve", children=2)
    result.assert_outcomes(passed=1, failed=1)
    pids = pids_in(fake_env)
    assert len(pids) == 5
    assert not [p for p in pids if alive(p)]
    results = json.loads((pytester.path / "results" / "results.json").read_text())
    assert results["server"]["ladder_rung"] == "as-given"
    assert results["verdicts"] == {"smoke": "FAIL"}


@pytest.mark.parametrize("sig, inherited", [
    (signal.SIGINT, signal.SIG_DFL),  # Ctrl-C in a terminal
    # A background job of a non-interactive shell (`pytest ... &`, as CI runners and wrappers
    # start us) inherits SIGINT ignored; the plugin restores it, or the interrupt is dropped.
    (signal.SIGINT, signal.SIG_IGN),
    (signal.SIGTERM, signal.SIG_DFL),
    # A CI's hard kill after its grace period, or the OOM killer: no finalizer runs; the
    # server's watchdog sees our end of its pipe close and takes the group down.
    (signal.SIGKILL, signal.SIG_DFL),
], ids=["ctrl-c", "ctrl-c-background-job", "sigterm", "sigkill"])
def test_interrupt_during_startup_leaves_no_process(pytester, monkeypatch, fake_env, sig,
                                                    inherited):
    pytester.makepyfile(test_server=SERVER_TEST)
    env = {**os.environ, "FAKE_MODE": "slow", "FAKE_CHILDREN": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--server-cmd", FAKE_CMD, "-p", "no:cacheprovider"],
        cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, inherited))  # noqa: PLW1509 (one thread)
    deadline = time.monotonic() + 30
    while len(pids_in(fake_env)) < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    pids = pids_in(fake_env)
    assert len(pids) == 5, "the fake server never started"
    time.sleep(1.0)  # well inside the readiness wait
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    deadline = time.monotonic() + 30  # after SIGKILL the watchdog needs a moment
    while [p for p in pids if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [p for p in pids if alive(p)]
    assert not survivors, f"left running after {sig.name}: {survivors}\n{out[-2000:]}"
    # What was written survives, valid, and says the run did not finish and where it was.
    results = json.loads((pytester.path / "results" / "results.json").read_text())
    assert results["interrupted"] is True
    assert results["running"].endswith("test_uses_server")


def test_attach_never_starts_or_stops_anything(pytester, monkeypatch, fake_env):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(FAKE_VLLM), "--port", str(port),
                               "--served-model-name", "attached"],
                              env={**os.environ, "FAKE_MODE": "serve"})
    try:
        pytester.makepyfile(test_server=SERVER_TEST)
        result = pytester.runpytest_subprocess("--base-url", f"http://127.0.0.1:{port}/v1",
                                               "-p", "no:cacheprovider", timeout=60)
        result.assert_outcomes(passed=1, failed=1)
        assert server.poll() is None, "attach mode stopped the server"
        assert pids_in(fake_env) == [server.pid], "attach mode started a server"
        assert not list((pytester.path / "results").glob("server-*.log"))
    finally:
        server.kill()
        server.wait()


@pytest.mark.slow
def test_smoke_suite_passes_against_the_embedded_server(pytester):
    """The README's first command in miniature: the real smoke suite, real vLLM CPU."""
    pytester.copy_example(str(ROOT / "tests" / "test_smoke.py"))
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess("-m", "smoke", f"--junitxml={junit}", "-p",
                                           "no:cacheprovider", timeout=900)
    out = result.stdout.str()
    result.assert_outcomes(passed=16, skipped=4)  # the ladder check and the canary's words
    assert "server ready in" in out and "smoke         PASS" in out
    results = json.loads((pytester.path / "results" / "results.json").read_text())
    assert results["environment"]["vllm"] and results["environment"]["torch"]
    assert results["server"]["mode"] == "embedded" and results["server"]["startup_s"] > 0
    assert results["verdicts"] == {"smoke": "PASS"}
    xml = junit.read_text()
    for prop in ("env.vllm", "env.python", "server.argv", "server.ladder_rung", "server.startup_s"):
        assert f'name="{prop}"' in xml, prop
    group = results["server"]["pid"]  # the server led its own process group
    left = [p.pid for p in psutil.process_iter() if _pgid(p.pid) == group]
    assert not left, f"processes of the server's group left after the run: {left}"
    # A partial run's report says what did not run and gives it no verdict.
    report = (pytester.path / "results" / "report.md").read_text()
    for suite in ("precision", "long_context", "performance"):
        assert f"| {suite} | NOT RUN |" in report
        assert f"Not run: no `{suite}` test ran in this session" in report
    assert "| smoke | PASS |" in report
    if chromium():
        page = open_page(pytester.path / "results" / "report.html")
        assert page.console == [] and page.requests == []
        assert "Not run: no <code>precision</code> test ran in this session" in page.dom


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _fallback_run(pytester, monkeypatch, *args):
    """The shipped smoke module's ladder test against a fake that starts only with
    --enforce-eager (as vllm-ascend does when graph capture breaks)."""
    monkeypatch.setenv("FAKE_MODE", "eager-only")
    pytester.copy_example(str(ROOT / "tests" / "test_smoke.py"))
    return pytester.runpytest_subprocess("--server-cmd", FAKE_CMD, "-p", "no:cacheprovider",
                                         "-k", "came_up_as_given", "--junitxml=junit.xml",
                                         *args, timeout=120)


def test_a_server_up_only_on_a_lower_rung_fails_smoke(pytester, monkeypatch, fake_env):
    result = _fallback_run(pytester, monkeypatch)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "rung of the fallback ladder (fallback: --enforce-eager)" in out
    assert "RopeOperation setup failed" in out and "--allow-fallback" in out
    assert "smoke         FAIL     (1 failed) [fallback: --enforce-eager]" in out


def test_allow_fallback_judges_it_and_says_so_everywhere(pytester, monkeypatch, fake_env):
    result = _fallback_run(pytester, monkeypatch, "--allow-fallback")
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "smoke         PASS     (1 passed) [fallback: --enforce-eager]" in out
    assert "ladder rung enforce-eager (fallback: --enforce-eager)" in out
    junit = (pytester.path / "junit.xml").read_text()
    assert '<property name="server.fallback" value="--enforce-eager"' in junit
    results = json.loads((pytester.path / "results" / "results.json").read_text())
    assert results["server"]["fallback"] == "--enforce-eager"


DYING_TESTS = """
import httpx
import pytest

@pytest.mark.smoke
@pytest.mark.parametrize("n", range(4))
def test_generates(server, n):
    answer = httpx.post(server.base_url + "/v1/completions",
                        json={"model": server.model, "prompt": "hi", "max_tokens": 1})
    assert answer.status_code == 200
"""


def test_a_server_that_dies_mid_run_is_one_story(pytester, monkeypatch, fake_env):
    """The fake serves its readiness probe and one test's generation, then logs an NPU OOM and
    dies by SIGKILL: the next test tells how it died, the diagnosis and the log tail once; the
    two after it error at once in one line each; what the first test measured is kept."""
    monkeypatch.setenv("FAKE_MODE", "die-after:2")
    pytester.makepyfile(test_dying=DYING_TESTS)
    t0 = time.monotonic()
    result = pytester.runpytest_subprocess("--server-cmd", FAKE_CMD, "-p", "no:cacheprovider",
                                           "--tb=long", timeout=120)
    elapsed = time.monotonic() - t0
    out = before_recap(result.stdout.str())
    result.assert_outcomes(passed=1, errors=3)
    # the story, the two one-line references, the verdict's line
    assert out.count("killed by SIGKILL (signal 9; the OOM killer sends it too)") == 1 + 2 + 1, out
    assert out.count("server log shows device out of memory") == 1
    assert out.count("NPU out of memory. Tried to allocate 4.00 GiB") >= 1
    assert out.count("the whole story: the first error, test_dying.py::test_generates[1]") == 2
    assert "Traceback" not in out
    assert elapsed < 60
    results = json.loads((pytester.path / "results" / "results.json").read_text())
    assert results["server"]["died"]["before"].endswith("test_generates[1]")
    assert results["tests"]["test_dying.py::test_generates[0]"]["outcome"] == "passed"
    assert results["verdicts"] == {"smoke": "FAIL"} and results["interrupted"] is False
    assert "server DIED before test_dying.py::test_generates[1]" in out


SKIPPING_TESTS = """
import pytest

@pytest.mark.smoke
def test_measured(server):
    assert server.model

@pytest.mark.smoke
def test_does_not_apply(server):
    pytest.skip("not applicable: not an Ascend host")

@pytest.mark.performance
def test_measured_too(server):
    assert server.model

@pytest.mark.performance
def test_could_not_measure(server):
    pytest.skip("the server exposes no counters")
"""


def test_an_unmeasured_criterion_is_never_a_pass(pytester, monkeypatch, fake_env):
    """A skip that says "not applicable" leaves the suite PASS; any other skip is a criterion
    that was not measured: the suite is INCOMPLETE, in results.json and in the summary."""
    monkeypatch.setenv("FAKE_MODE", "serve")
    pytester.makepyfile(test_skips=SKIPPING_TESTS)
    result = pytester.runpytest_subprocess("--server-cmd", FAKE_CMD, "-p", "no:cacheprovider",
                                           timeout=60)
    result.assert_outcomes(passed=2, skipped=2)
    results = json.loads((pytester.path / "results" / "results.json").read_text())
    assert results["verdicts"] == {"smoke": "PASS", "performance": "INCOMPLETE"}
    assert results["tests"]["test_skips.py::test_does_not_apply"]["outcome"] == "not_applicable"
    assert results["tests"]["test_skips.py::test_could_not_measure"]["outcome"] == "skipped"
    assert results["interrupted"] is False and "running" not in results
    result.stdout.fnmatch_lines(["*performance*INCOMPLETE*(1 passed, 1 skipped)*",
                                 "*smoke*PASS*(1 not_applicable, 1 passed)*"])


FIGURES_TEST = """
import pytest

@pytest.mark.smoke
def test_measures(record):
    record("median TTFT", 12.5, threshold="< 100", unit="ms")
    record("note", "two\\nlines")

@pytest.mark.smoke
def test_measures_and_fails(record):
    record("recall", 0.8, threshold=">= 1")
    assert False, "figures of a failed test are kept too"
"""


@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
def test_junit_is_schema_valid_and_keeps_every_figure(pytester, family):
    """pytest's default xunit2 allows no per-test properties (Jenkins' xUnit plugin refuses
    them): the figures are name=value lines of system-out there, properties under xunit1."""
    from pytest_ascend_oss.report.junit import read_figures

    pytester.makepyfile(test_figures=FIGURES_TEST)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "-m", "smoke", f"--junitxml={junit}", "-o", f"junit_family={family}",
        "-p", "no:cacheprovider", "--base-url", "http://127.0.0.1:9")
    result.assert_outcomes(passed=1, failed=1)
    import xml.etree.ElementTree as ET

    cases = {c.get("name"): c for c in ET.parse(junit).iter("testcase")}
    if family == "xunit2":
        assert problems(junit) == []
        for case in cases.values():  # the run's context stays in suite properties
            assert case.find("properties") is None
        figures = read_figures(cases["test_measures"].find("system-out").text)
        assert figures == {"median TTFT": "12.5", "median TTFT.threshold": "< 100",
                           "note": "two\nlines"}
        failed = read_figures(cases["test_measures_and_fails"].find("system-out").text)
        assert failed == {"recall": "0.8", "recall.threshold": ">= 1"}
    else:
        # the check can fail: per-test properties are what xunit2's schema refuses
        assert any("properties" in problem for problem in problems(junit))
        props = {p.get("name"): p.get("value")
                 for p in cases["test_measures"].find("properties")}
        assert props["median TTFT"] == "12.5" and props["median TTFT.threshold"] == "< 100"

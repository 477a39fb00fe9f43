"""Paths that once led to a PASS for a server that is not fit, each closed and shown failing
against the real embedded canary behind a proxy that breaks it one way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import breaking_proxy

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
ALWAYS_7842 = "The secret code is 7842."


def test_long_context_cli_defaults_catch_a_server_that_always_says_7842(embedded_url, tmp_path):
    """The guide's script with no --variants: the profile's variants run too (a fresh random
    code, no needle), so the memorised answer fails; before, only the fixed needle ran."""
    output = tmp_path / "lc.json"
    with breaking_proxy(embedded_url, "--fault", "always-7842", "--answer", ALWAYS_7842) as url:
        done = subprocess.run(
            [sys.executable, "-m", "pytest_ascend_oss.cli", "long-context", "--api-url", url,
             "--profile", "cpu-canary", "--lengths", "1024", "--depths", "50",
             "--output", str(output)], check=False, capture_output=True, text=True,
            timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "FAIL: random ctx=1024-depth=50: random code recalled" in done.stdout
    assert "FAIL: none ctx=1024-depth=0: no code claimed" in done.stdout
    kinds = {c["case"]["kind"] for c in json.loads(output.read_text())["cases"]}
    assert kinds == {"guide", "random", "none"}


def test_a_greeting_is_a_word_not_a_substring(pytester, embedded_url):
    """'Do this.' contains "hi" and is no greeting: the smoke check must fail it."""
    pytester.copy_example(str(ROOT / "tests" / "test_smoke.py"))
    with breaking_proxy(embedded_url, "--fault", "always-7842", "--answer", "Do this.") as url:
        result = pytester.runpytest_subprocess("--base-url", url, "-k", "greets",
                                               "-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(failed=1)
    assert "'say hi' answered" in result.stdout.str()

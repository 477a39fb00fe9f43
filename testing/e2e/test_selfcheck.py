"""`ascend-oss selfcheck` on the embedded default, as a user runs it: every fault caught, the
healthy server passes every criterion, and the numbers reach the terminal, JSON and JUnit."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from pytest_ascend_oss.report.junit import read_figures
from pytest_ascend_oss.selfcheck import faults

pytestmark = pytest.mark.slow


def test_selfcheck_catches_every_fault_on_the_embedded_default(tmp_path):
    """Run as a user runs it: from a directory of their own, with relative paths (each cell's
    pytest once resolved them in the checkout and judged nothing). ``--quick``: the proxy
    faults; each launched variant's criteria are shown failing by the e2e tests of its suite
    (precision perturbed, long context on a short context, tool calls without a parser) and
    the full self-check's figures are in docs/selfcheck.md."""
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "pytest_ascend_oss.cli", "selfcheck", "--quick",
         "--results-dir", "results", "--", "--junitxml", "results/junit.xml"],
        capture_output=True, text=True, timeout=1500, check=False, cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    # the suite's own settings applied (pytest-asyncio warns when its loop scope is unset)
    assert '"asyncio_default_fixture_loop_scope" is unset' not in out
    data = json.loads((results / "selfcheck" / "selfcheck.json").read_text())
    v = data["verdicts"]
    assert v["detection"] == 1.0 and v["cells_caught"] == v["cells_expected"] > 20, v
    proxied = faults.selected(quick=True)
    assert v["faults_caught"] == v["faults_judged"] == len(proxied) < len(faults.FAULTS), v
    assert sorted(data["left_out"]) == sorted(f.name for f in faults.FAULTS if f.launched)
    # every criterion of the healthy run measured: the MXFP4 row reads the checkpoint
    assert v["healthy_failures"] == [] and v["healthy_passed"] == v["healthy_judged"] > 25, v
    assert f"detection: {v['cells_caught']}/{v['cells_expected']} cells (100 %)" in out
    assert "healthy: " in out and (f", 0 failed; quick: {len(data['left_out'])} launched "
                                   "faults left out") in out
    print(f"self-check wall time: {data['wall_s']} s")  # the figure the issue asks for
    figures = {}
    for out in ET.parse(results / "junit.xml").iter("system-out"):
        figures.update(read_figures(out.text or ""))
    assert figures["detection"] == "1.0" and figures["healthy_failures"] == "0"
    matrix = (results / "selfcheck" / "selfcheck.md").read_text()
    assert "MISSED" not in matrix and matrix.count("CAUGHT") == v["cells_caught"]

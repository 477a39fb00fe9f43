"""Self-check: every criterion of the four suites seen passing on the healthy server and failing
under a fault that should flip it (``pytest -m selfcheck``, or ``ascend-oss selfcheck``).

Each test runs the suites in a pytest of their own (selfcheck/<run>/ holds its results.json,
junit.xml and log): first against the server as it is, where every criterion must pass, then
behind each fault of ``pytest_ascend_oss/selfcheck/faults.py``, where the criteria the fault
must flip must fail. A criterion that passes behind its fault is a MISSED cell: the suite would
sign off a deployment broken that way. The matrix is selfcheck/selfcheck.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_ascend_oss.plugin import settings_key
from pytest_ascend_oss.selfcheck import faults
from pytest_ascend_oss.selfcheck.report import summary
from pytest_ascend_oss.selfcheck.session import SelfCheck

pytestmark = pytest.mark.selfcheck


@pytest.fixture(scope="session")
def selfcheck(ascend_settings, server, thresholds, checkpoint, progress, twin_server):
    pooling_url = ascend_settings.pooling_url
    if pooling_url is None and ascend_settings.mode == "launch":
        pooling_url = twin_server("pooling-twin", pooling=True).base_url
    # The embedded server's twin is the self-check's own: it stops it before each variant.
    check = SelfCheck(ascend_settings, server, thresholds, Path(__file__).parent, checkpoint,
                      progress, pooling_url)
    yield check
    check.close()


def test_healthy_server_passes_every_criterion(selfcheck, record):
    cell = selfcheck.healthy()
    verdicts = selfcheck.verdicts()
    record("healthy_passed", verdicts["healthy_passed"])
    record("healthy_judged", verdicts["healthy_judged"])
    assert not cell.problem, cell.problem
    assert not verdicts["healthy_failures"], (
        f"the healthy server failed {verdicts['healthy_failures']}: a fault cannot be told from "
        f"the server's own failure (see {cell.results_dir}/pytest.log)")
    unmeasured = sorted(n for n, s in cell.observed.items() if s == "not measured")
    if unmeasured:
        pytest.skip(f"not measured on the healthy server: {unmeasured} "
                    f"(see {cell.results_dir}/pytest.log)")


def pytest_generate_tests(metafunc):
    """One test per fault the session runs: all, or the proxy faults with --selfcheck-quick
    (the left-out ones are deselected, never skipped as passes; the matrix names them)."""
    if "fault" in metafunc.fixturenames:
        settings = metafunc.config.stash.get(settings_key, None)
        quick = bool(settings and settings.selfcheck_quick)
        metafunc.parametrize("fault", [f.name for f in faults.selected(quick)])


def test_fault_is_caught(selfcheck, fault, record):
    selfcheck.healthy()  # the reference column: first, on a quiet server
    cell = selfcheck.fault(fault)
    if cell is None:
        pytest.skip(selfcheck.skipped[fault])
    row = selfcheck.verdicts()["faults"][fault]
    record("caught", ", ".join(row["caught"]))
    record("missed", ", ".join(row["missed"]))
    assert not row["missed"], (
        f"MISSED under {fault} ({faults.BY_NAME[fault].does}): {row['missed']} passed; the "
        f"suite would pass a deployment broken this way (see {cell.results_dir}/pytest.log)")
    if row["not_measured"]:
        pytest.skip(f"not measured under {fault}: {row['not_measured']}")


def test_detection_score(selfcheck, record, progress):
    """Last: the score over every fault that ran (caught cells / cells that must fail)."""
    selfcheck.write()
    data = selfcheck.to_json()
    v = data["verdicts"]
    record("detection", v["detection"])
    record("cells_caught", v["cells_caught"], threshold=f"={v['cells_expected']}")
    record("healthy_failures", len(v["healthy_failures"]), threshold="=0")
    progress(summary(data))
    progress(f"self-check matrix: {selfcheck.root / 'selfcheck.md'}")
    missed = {f: row["missed"] for f, row in v["faults"].items() if row["missed"]}
    assert not missed and not v["healthy_failures"], f"{summary(data)}; missed: {missed}"
    if v["detection"] is None or v["cells_caught"] < v["cells_expected"]:
        pytest.skip(f"not measured: {v['cells_expected'] - v['cells_caught']} of "
                    f"{v['cells_expected']} cells ({summary(data)})")

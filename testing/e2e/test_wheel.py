"""The wheel users install carries what the plugin and the suite read at run time, and the
acceptance suite itself (tests/, shipped as pytest_ascend_oss.acceptance for
``pytest --pyargs pytest_ascend_oss``). Built here without network (no build isolation). Run by
hand: the wheel in a fresh venv, ``pytest --pyargs pytest_ascend_oss -m "smoke or long_context"``
from an empty directory passed, its JUnit schema-valid (README, "Installed from a wheel")."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_the_suite_its_data_and_the_plugin_entry_point(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "--disable-pip-version-check", str(ROOT), "-w", str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("pytest_ascend_oss-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "pytest_ascend_oss"
    wanted = {"pytest_ascend_oss/thresholds.toml", "pytest_ascend_oss/pytest.ini",
              "pytest_ascend_oss/embedded/canary/canary.safetensors",
              "pytest_ascend_oss/acceptance/__init__.py"}
    wanted |= {f"pytest_ascend_oss/data/{p.name}" for p in (package / "data").glob("*.json*")}
    wanted |= {f"pytest_ascend_oss/acceptance/{p.name}" for p in (ROOT / "tests").glob("test_*.py")}
    assert wanted <= names, sorted(wanted - names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "ascend_oss = pytest_ascend_oss.plugin" in text

"""Package layout that pyproject.toml cannot say: the acceptance suite lives in tests/ at the top
of the repository (run in a checkout as ``pytest -m ...``) and is shipped in the wheel as
``pytest_ascend_oss.acceptance``, so an installed plugin runs it from any directory with
``pytest --pyargs pytest_ascend_oss -m smoke`` (pytest's convention for suites shipped in a
package). Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["pytest_ascend_oss", "pytest_ascend_oss.*"]),
              "pytest_ascend_oss.acceptance"],
    package_dir={"pytest_ascend_oss.acceptance": "tests"},
)

"""Our JUnit XML checked against the schema dashboards apply: ``junit-10.xsd`` from the source
distribution of the pytest installed here (the schema pytest's own tests validate its xunit2
output against; Jenkins' xUnit plugin applies the same). scripts/setup.sh fetches it into the
user cache; a missing schema fails the test with that remedy (never a silent skip)."""

from __future__ import annotations

from pathlib import Path

import pytest


def _schema_path() -> Path:
    from pytest_ascend_oss.cache import cache_root

    return cache_root() / "junit-10.xsd"


# Resolved at import, before pytester moves HOME to a scratch directory.
SCHEMA = _schema_path()


def problems(junit: Path) -> list[str]:
    """Every way ``junit`` breaks the schema (empty: valid)."""
    import xmlschema

    path = SCHEMA
    if not path.is_file():
        pytest.fail(f"{path} is missing: scripts/setup.sh fetches it from pytest's source "
                    "distribution", pytrace=False)
    schema = xmlschema.XMLSchema(str(path))
    return [f"{e.path}: {e.reason}" for e in schema.iter_errors(str(junit))]

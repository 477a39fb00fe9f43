"""One healthy embedded server (bfloat16, the shipped canary) shared by the e2e modules that
judge it or break it through a proxy: it starts once (about a minute on 2 cores). Tests that
need another server (a short context, float32, perturbed weights) start their own."""

from __future__ import annotations

import pytest
from embedded_server import serving


@pytest.fixture(scope="package")
def embedded_url(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("embedded")) as url:
        yield url

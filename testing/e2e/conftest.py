"""One healthy embedded server (bfloat16, the shipped canary) shared by the e2e modules that
judge it or break it through a proxy: it starts once (about a minute on 2 cores). Tests that
need another server (a short context, float32, perturbed weights) start their own."""

from __future__ import annotations

import pytest

from pytest_ascend_oss.server.launcher import launch


@pytest.fixture(scope="package")
def embedded_url(tmp_path_factory):
    from pytest_ascend_oss.embedded.serve import embedded_command

    argv, env = embedded_command(log=lambda m: None)
    started = []
    try:
        _, endpoint = launch(argv, tmp_path_factory.mktemp("embedded"), 600, env=env,
                             on_start=started.append, progress=lambda m: None)
        yield endpoint.base_url
    finally:
        for server in started:
            server.stop()

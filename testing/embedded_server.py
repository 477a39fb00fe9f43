"""An embedded canary server for the project's e2e tests: started, its URL handed over,
always stopped."""

from __future__ import annotations

import contextlib
from pathlib import Path

from pytest_ascend_oss.embedded.serve import embedded_command
from pytest_ascend_oss.server.launcher import launch


@contextlib.contextmanager
def serving(directory: Path, **embedded):
    """The embedded server with ``embedded`` (perturb, max_model_len, kv_cache_gib, ...) at
    its URL for the block; the command is built before the block (a model build must not
    happen later, where pytester has moved HOME and the cache)."""
    argv, env = embedded_command(log=lambda m: None, **embedded)
    started = []
    try:
        _, endpoint = launch(argv, directory, 600, env=env, on_start=started.append,
                             progress=lambda m: None)
        yield endpoint.base_url
    finally:
        for server in started:
            server.stop()

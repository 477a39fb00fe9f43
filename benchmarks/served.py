"""The server a benchmark script measures: the one at ``--base-url``, or the embedded server
started for the run and always stopped. (Scripts here run as ``python benchmarks/X.py``, so this
module is importable beside them.)"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pytest_ascend_oss.server.launcher import Endpoint, attach, launch


@contextlib.contextmanager
def served(base_url: str | None) -> Iterator[Endpoint]:
    if base_url:
        yield attach(base_url, None, None)
        return
    from pytest_ascend_oss.embedded.serve import embedded_command

    argv, env = embedded_command(log=lambda m: None)
    started = []
    try:
        _, endpoint = launch(argv, Path(tempfile.mkdtemp()), 600, env=env,
                             on_start=started.append, progress=lambda m: None)
        yield endpoint
    finally:
        for server in started:
            server.stop()

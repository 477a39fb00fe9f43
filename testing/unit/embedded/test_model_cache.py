"""The embedded model's cache under concurrent use: a server and its pooling twin (or two CI
jobs) asking for the same perturbed copy at once both get it; one builds, the other waits."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from pytest_ascend_oss.cache import cache_root
from pytest_ascend_oss.embedded.model import ensure_model

BUILD = ("from pytest_ascend_oss.embedded.model import ensure_model; "
         "print(ensure_model(lambda m: print(m), perturb=0.3))")


def test_two_processes_build_one_perturbed_copy(tmp_path):
    ensure_model(lambda m: None)  # the base model, built once in the user's cache
    root = tmp_path / "cache"
    shutil.copytree(cache_root() / "models" / "gpt-oss-canary",
                    root / "models" / "gpt-oss-canary")
    shutil.copytree(cache_root() / "encodings", root / "encodings")
    env = {**os.environ, "ASCEND_OSS_CACHE_DIR": str(root)}
    runs = [subprocess.Popen([sys.executable, "-c", BUILD], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err[-2000:]
    built = [out.strip().splitlines()[-1] for out, _ in outputs]
    assert built[0] == built[1] and built[0].endswith("gpt-oss-canary-perturb-0.3")
    # one built it; the other found it built once the lock was free
    assert sum("building the embedded model" in out for out, _ in outputs) == 1
    assert not list((root / "models").glob("*.building"))

"""Where the plugin keeps what it builds between runs (the o200k vocab, the embedded model)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

MANIFEST = "BUILD_OK.json"


def cache_root() -> Path:
    """``ASCEND_OSS_CACHE_DIR`` if set, else the user cache directory."""
    override = os.environ.get("ASCEND_OSS_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("pytest-ascend-oss"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(directory: Path, recipe: dict) -> None:
    """Seal a finished build: the recipe it was made from and every file's hash.

    Written last, so a build interrupted half-way has no manifest and is redone.
    """
    files = {
        p.name: sha256_file(p) for p in sorted(directory.iterdir()) if p.is_file() and p.name != MANIFEST
    }
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"recipe": recipe, "files": files}, indent=1, sort_keys=True))
    tmp.replace(directory / MANIFEST)


def manifest_problem(directory: Path, recipe: dict) -> str | None:
    """Why a cached build cannot be used (None when it can): missing, other recipe, or corrupt."""
    path = directory / MANIFEST
    if not path.is_file():
        return f"{directory} has not been built (no {MANIFEST})"
    try:
        manifest = json.loads(path.read_text())
    except ValueError:
        return f"{path} is not valid JSON"
    if manifest.get("recipe") != recipe:
        return f"{directory} was built from another recipe"
    for name, digest in manifest.get("files", {}).items():
        file = directory / name
        if not file.is_file():
            return f"{file} is missing"
        if sha256_file(file) != digest:
            return f"{file} is corrupt (sha256 differs from the build's)"
    return None


@contextlib.contextmanager
def build_lock(directory: Path) -> Iterator[None]:
    """One builder of ``directory`` at a time, across processes (a server and its pooling twin
    started together, two CI jobs on one machine): the second waits, then finds it built.
    An advisory lock on a file beside it; the kernel drops it when its holder dies."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.with_name(directory.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

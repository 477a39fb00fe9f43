"""The plugin's options and how each value is resolved.

Precedence, for every option: command line > environment (``ASCEND_OSS_<NAME>``) > ini > default.
The table below is the single place an option is declared; ``plugin.py`` registers it with pytest
and the README documents it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .secret import Secret

ENV_PREFIX = "ASCEND_OSS_"

# Choices, declared here so the options table stays a leaf; project tests pin each against the
# module that uses it (the haystack languages, the hidden-state probe's dtypes).
LANGUAGES = ("en", "zh", "syllables")  # syllables: near-random tokens (haystack.py)
REASONING_EFFORTS = ("low", "medium", "high")
PRECISION_ENDPOINTS = ("completions", "chat")
HIDDEN_DEVICES = ("cpu", "npu")
HIDDEN_DTYPES = ("bfloat16", "float16", "float32")


class SettingsError(ValueError):
    """A bad option value: the message names the option, where it came from and the value."""


@dataclass(frozen=True)
class Option:
    name: str  # python name; CLI flag is --name-with-dashes, ini key ascend_oss_<name>
    help: str
    convert: Callable[[str], Any] = str
    default: Any = None
    metavar: str = "VALUE"
    secret: bool = False
    extra_env: tuple[str, ...] = ()  # other environment variables consulted, in order, after ours
    switch: bool = False  # a flag without a value on the command line (true/false elsewhere)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def ini(self) -> str:
        return "ascend_oss_" + self.name


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false (1/0, yes/no, on/off)")


def url(text: str) -> str:
    text = text.strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://, e.g. http://127.0.0.1:8000")
    # Users paste the guide's full endpoint; the plugin wants the server root.
    for suffix in ("/v1/chat/completions", "/v1/completions", "/v1"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    parts = urlsplit(text)
    if not parts.hostname:
        raise ValueError("names no host, e.g. http://127.0.0.1:8000")
    try:
        port = parts.port  # raises on "notaport" and on numbers outside 0..65535
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        raise ValueError("has no valid port (1..65535)")
    if parts.query or parts.fragment:
        raise ValueError("takes no query or fragment: give the server root")
    return text


def choice(*choices: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"choose one of {', '.join(choices)}")
        return value

    return convert


def command(text: str) -> str:
    """A server command: not empty, and splittable as a shell would (quotes closed)."""
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot be split into arguments: {exc}") from None
    if not argv:
        raise ValueError("is empty; give the guide's command, e.g. \"vllm serve "
                         "/models/gpt-oss-20b --dtype bfloat16\"")
    return text


def int_list(text: str) -> str:
    """A comma-separated list of integers, kept as text (the suites parse it with ranges)."""
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise ValueError("is empty; give comma-separated integers, e.g. 1024,32768")
    for item in items:
        try:
            int(item)
        except ValueError:
            raise ValueError(f"must be comma-separated integers; {item!r} is not one") from None
    return text


def card_ids(text: str) -> tuple[int, ...]:
    """NPU ids as ``0-7``, ``0,2,4`` or ``0-3,6`` -> the ids in the given order, each once.
    (The device plan, server/devices.py, reads ``--devices`` and ASCEND_RT_VISIBLE_DEVICES
    with it.)"""
    cards: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", item)
        if not match:
            raise ValueError(f"{item!r} is not a card id or a range (give e.g. 0-7, or 0,2,4)")
        first, last = int(match[1]), int(match[2] if match[2] is not None else match[1])
        if last < first:
            raise ValueError(f"the range {item!r} runs backwards")
        cards += [c for c in range(first, last + 1) if c not in cards]
    return tuple(cards)


def card_list(text: str) -> str:
    """A card list, checked and kept as text (the device plan parses it again)."""
    card_ids(text)
    return text


OPTIONS: tuple[Option, ...] = (
    Option("base_url", "attach to a running server at URL (never launched or killed)", url,
           metavar="URL"),
    Option("server_log", "attached: the server's launch log FILE, read by the rows that judge "
           "what the engine loaded (served dtype, MXFP4 weights) and by failure diagnosis, as "
           "in launch mode (a launched server's log is its own)", Path, metavar="FILE"),
    Option("server_cmd", "launch this server command, e.g. \"vllm serve /models/gpt-oss-20b "
           "--dtype bfloat16\" (--port, --host and --served-model-name are added when absent)",
           command, metavar="CMD"),
    Option("model_name", "served model name to request (default: the launched name, or the only "
           "model an attached server lists)", metavar="NAME"),
    Option("profile", "thresholds profile (default: cpu-canary for the embedded server, "
           "atlas-800-a2 otherwise)", metavar="NAME"),
    Option("thresholds", "thresholds file (default: the thresholds.toml shipped with the plugin)",
           Path, metavar="PATH"),
    Option("ctx", "largest context length the long-context suite tries (default: the "
           "profile's long_context.context_length, 131072)", positive_int, metavar="N"),
    Option("niah_lengths", "long-context: comma-separated context lengths instead of the grid "
           "derived from --ctx", int_list, metavar="N,N"),
    Option("niah_depths", "long-context: comma-separated needle depths in percent",
           int_list, default="0,25,50,75,100", metavar="D,D"),
    Option("niah_language", "long-context: haystack language: en, zh or syllables",
           choice(*LANGUAGES), default="en", metavar="LANG"),
    Option("niah_max_tokens", "long-context: tokens reserved for the answer (analysis + final)",
           positive_int, default=256, metavar="N"),
    Option("niah_reasoning_effort", "long-context: reasoning effort pinned in every request "
           "(low, medium or high)", choice(*REASONING_EFFORTS), default="low",
           metavar="EFFORT"),
    Option("allow_fallback", "judge a launched server even when it came up only on a lower "
           "rung of the fallback ladder (a retry, or --enforce-eager); every verdict then says "
           "so", boolean, default=False, switch=True),
    Option("selfcheck_quick", "self-check: run only the faults that need no server of their "
           "own (the proxy faults); the launched variants are left out and the matrix says so",
           boolean, default=False, switch=True),
    Option("results_dir", "where results.json, server logs and reports go", Path,
           default=Path("results"), metavar="DIR"),
    Option("startup_timeout", "seconds to wait for a launched server to be ready",
           positive_float, default=1800.0, metavar="S"),
    Option("record_baseline", "precision: record this server's outputs as a baseline FILE",
           Path, metavar="FILE"),
    Option("baseline", "precision: compare against this baseline FILE", Path, metavar="FILE"),
    Option("baseline_url", "precision: compare against this live reference server", url,
           metavar="URL"),
    Option("prompts", "precision prompt set (default: the shipped 57 EN/ZH prompts)", Path,
           metavar="FILE"),
    Option("precision_max_tokens", "precision: max_tokens per prompt (the guide: 256)",
           positive_int, default=256, metavar="N"),
    Option("precision_endpoint", "precision: completions (token ids, identical inputs) or "
           "chat (the server renders; inputs may differ by host and date)",
           choice(*PRECISION_ENDPOINTS), default="completions", metavar="ENDPOINT"),
    Option("cpu_reference", "precision: a CPU FP32 baseline FILE (ascend-oss record-reference) "
           "compared beside the gate's reference, not gated", Path, metavar="FILE"),
    Option("pooling_url", "precision: the server's pooling twin, for its last-layer hidden "
           "states (launched and embedded servers start one themselves)", url, metavar="URL"),
    Option("baseline_pooling_url", "precision: the reference server's pooling twin "
           "(with --baseline-url)", url, metavar="URL"),
    Option("perplexity_corpus", "precision: harmony conversations FILE for perplexity, or "
           "'canary' (default: the model's built-in corpus)", str, metavar="FILE"),
    Option("accuracy_questions", "accuracy: question set FILE, .csv (GPQA's columns) or "
           ".jsonl (question, answer) (default: the built-in 24 capitals)", Path,
           metavar="FILE"),
    Option("accuracy_benchmark", "accuracy: the published figures the set is judged against, "
           "a key of the profile's accuracy.published (default: gpqa_diamond for .csv, aime25 "
           "for .jsonl, capitals for the built-in set)", str, metavar="NAME"),
    Option("accuracy_repeats", "accuracy: answers per question and effort (default: the "
           "profile's accuracy.repeats)", positive_int, metavar="N"),
    Option("accuracy_seed", "accuracy: seed of the choice shuffle and of the sampling",
           int, default=0, metavar="N"),
    Option("accuracy_baseline", "accuracy: a baseline run's accuracy/answers.jsonl (the same "
           "set on the GPU side) for the paired comparison", Path, metavar="FILE"),
    Option("checkpoint", "checkpoint directory for the checkpoint probe (default: the "
           "launched or embedded model)", Path, metavar="DIR"),
    Option("hidden_device", "run the checkpoint probe of this device's torch kernels (cpu, or "
           "npu on an Ascend host); reported apart from the guide's criterion",
           choice(*HIDDEN_DEVICES), metavar="DEV"),
    Option("hidden_dtype", "checkpoint probe dtype under test (bfloat16, float16, float32)",
           choice(*HIDDEN_DTYPES), default="bfloat16", metavar="DTYPE"),
    Option("eager_url", "features: the same deployment started with --enforce-eager, for "
           "graph-vs-eager parity (launched and embedded servers start it themselves)", url,
           metavar="URL"),
    Option("tp_url", "features: the deployment with the profile's tensor-parallel flags",
           url, metavar="URL"),
    Option("pp_url", "features: the deployment with the profile's pipeline-parallel flags",
           url, metavar="URL"),
    Option("ep_url", "features: the deployment with the profile's expert-parallel flags",
           url, metavar="URL"),
    Option("chunked_prefill_url", "features: the deployment with a small "
           "--max-num-batched-tokens (the profile's chunked_prefill_tokens)", url,
           metavar="URL"),
    Option("long_context_results", "features: a results.json whose long-context grid at "
           "131,072 tokens decides the 131K row (default: this session's own run)", Path,
           metavar="FILE"),
    Option("devices", "launch mode on an Ascend host: the NPUs this run may use, e.g. 0-7 or "
           "0,2,4 (default: every card npu-smi lists). The server under test keeps the cards "
           "ASCEND_RT_VISIBLE_DEVICES names, else takes the first it needs; the pooling twin "
           "and each features variant get free cards of their own", card_list,
           metavar="LIST"),
    Option("api_key", "API key sent as a bearer token (default: from the environment; never "
           "printed or written)", Secret, secret=True, metavar="KEY",
           extra_env=("VLLM_API_KEY",)),
)


# The features suite's variant servers an attached run names by URL.
VARIANT_URLS = ("eager_url", "tp_url", "pp_url", "ep_url", "chunked_prefill_url")


def default(name: str) -> Any:
    """The declared default of option ``name`` (the CLI uses the same defaults as the plugin)."""
    for opt in OPTIONS:
        if opt.name == name:
            return opt.default
    raise KeyError(name)


def parse_url(text: str) -> str:
    """A server URL as the options take it: the guide's full endpoint URLs are accepted."""
    return url(text)


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError("must be a port number, 1..65535")
    return value


@dataclass(frozen=True)
class Settings:
    """The resolved options; its fields and defaults mirror OPTIONS (a project test pins it)."""

    base_url: str | None = None
    server_log: Path | None = None
    server_cmd: str | None = None
    model_name: str | None = None
    profile: str | None = None
    thresholds: Path | None = None
    ctx: int | None = None
    niah_lengths: str | None = None
    niah_depths: str = "0,25,50,75,100"
    niah_language: str = "en"
    niah_max_tokens: int = 256
    niah_reasoning_effort: str = "low"
    allow_fallback: bool = False
    selfcheck_quick: bool = False
    results_dir: Path = Path("results")
    startup_timeout: float = 1800.0
    record_baseline: Path | None = None
    baseline: Path | None = None
    baseline_url: str | None = None
    prompts: Path | None = None
    precision_max_tokens: int = 256
    precision_endpoint: str = "completions"
    accuracy_questions: Path | None = None
    accuracy_benchmark: str | None = None
    accuracy_repeats: int | None = None
    accuracy_seed: int = 0
    accuracy_baseline: Path | None = None
    checkpoint: Path | None = None
    cpu_reference: Path | None = None
    pooling_url: str | None = None
    baseline_pooling_url: str | None = None
    perplexity_corpus: str | None = None
    hidden_device: str | None = None
    hidden_dtype: str = "bfloat16"
    eager_url: str | None = None
    tp_url: str | None = None
    pp_url: str | None = None
    ep_url: str | None = None
    chunked_prefill_url: str | None = None
    long_context_results: Path | None = None
    devices: str | None = None
    api_key: Secret | None = field(default=None, repr=False)
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def mode(self) -> str:
        """"attach", "launch" or "embedded"."""
        if self.base_url:
            return "attach"
        if self.server_cmd:
            return "launch"
        return "embedded"

    def public(self) -> dict[str, Any]:
        """The settings as they may be written to results: secrets reduced to set/unset."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            if f.name == "api_key":
                value = "<set>" if value else None  # not even <hidden>: nothing to decode
            elif isinstance(value, Path):
                value = str(value)
            out[f.name] = value
        out["mode"] = self.mode
        return out


def resolve(
    cli: dict[str, Any],
    ini: dict[str, str | None],
    environ: dict[str, str] | None = None,
) -> Settings:
    """Resolve every option from the command line, environment, ini and defaults, in that order.

    ``cli`` maps option names to parsed values (None when not given); ``ini`` maps option names to
    raw ini strings (None or "" when not set).
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        raw: Any = None
        source = "default"
        if cli.get(opt.name) is not None:
            raw, source = cli[opt.name], f"command line {opt.flag}"
        else:
            for var in (opt.env, *opt.extra_env):
                if environ.get(var):
                    raw, source = environ[var], f"environment {var}"
                    break
            else:
                if ini.get(opt.name):
                    raw, source = ini[opt.name], f"ini {opt.ini}"
        if raw is None:
            values[opt.name] = opt.default
        else:
            values[opt.name] = _convert(opt, raw, source)
        sources[opt.name] = source
    if values["base_url"] and values["server_cmd"]:
        raise SettingsError(
            f"--base-url (from {_origin(sources['base_url'])}) and --server-cmd (from "
            f"{_origin(sources['server_cmd'])}) "
            "exclude each other: attach to a running server OR launch one"
        )
    if values["server_log"] and not values["base_url"]:
        raise SettingsError(
            f"--server-log (from {_origin(sources['server_log'])}) names an attached server's "
            "launch log, and no --base-url is given: a launched or embedded server's log is "
            "the one it writes under the results directory")
    if values["baseline_url"] and values["baseline_url"] == values["base_url"]:
        raise SettingsError(
            f"--baseline-url (from {_origin(sources['baseline_url'])}) is the server under test "
            f"{values['base_url']}: a server compared with itself always agrees; give the "
            "reference (GPU) server's URL or a --baseline file")
    if values["baseline_pooling_url"] and values["baseline_pooling_url"] == values["pooling_url"]:
        raise SettingsError(
            f"--baseline-pooling-url (from {_origin(sources['baseline_pooling_url'])}) is "
            "--pooling-url: hidden states compared with themselves always agree; give the "
            "reference server's pooling twin")
    for name in VARIANT_URLS:
        if values[name] and values[name] == values["base_url"]:
            raise SettingsError(
                f"--{name.replace('_', '-')} (from {_origin(sources[name])}) is the server "
                "under test: a variant compared with itself always agrees; give the URL of "
                "the deployment started with the variant's flags")
    return Settings(**values, sources=sources)


def check_environment(settings: Settings) -> None:
    """What the values name must exist and be usable, checked before anything starts: the
    server command's executable, the files the run reads, the places it writes. Raises
    SettingsError naming the option, its source, the value and the remedy."""
    src = settings.sources
    if settings.server_cmd:
        exe = shlex.split(settings.server_cmd)[0]
        if shutil.which(exe) is None:
            where = "not an executable file" if os.sep in exe else "not on PATH"
            raise SettingsError(
                f"--server-cmd (from {_origin(src.get('server_cmd', 'default'))}): cannot run "
                f"{exe!r}: "
                f"{where}; activate the environment that has vLLM, or give a full path")
    for name in ("server_log", "thresholds", "prompts", "baseline", "cpu_reference",
                 "checkpoint", "long_context_results", "accuracy_questions",
                 "accuracy_baseline"):
        path = getattr(settings, name)
        if path is None:
            continue
        want_dir = name == "checkpoint"
        problem = unreadable(Path(path), want_dir)
        if problem:
            raise SettingsError(f"--{name.replace('_', '-')} {str(path)!r} (from "
                                f"{_origin(src.get(name, 'default'))}) {problem}")
    for name in ("results_dir", "record_baseline"):
        path = getattr(settings, name)
        if path is None:
            continue
        target = Path(path) if name == "results_dir" else Path(path).parent
        problem = unwritable_dir(target)
        if problem:
            raise SettingsError(f"--{name.replace('_', '-')} {str(path)!r} (from "
                                f"{_origin(src.get(name, 'default'))}): {problem}")


def unreadable(path: Path, want_dir: bool) -> str | None:
    if not path.exists():
        return "does not exist"
    if want_dir and not path.is_dir():
        return "is not a directory"
    if not want_dir and not path.is_file():
        return "is not a file" + (" (a directory)" if path.is_dir() else "")
    if not os.access(path, os.R_OK):
        return "is not readable (permissions)"
    return None


def unwritable_dir(path: Path) -> str | None:
    """Why files could not be created in directory ``path`` (created later if missing), or None.
    Nothing is left here: the project's own runs must leave no results/ behind; the test write
    is an unnamed temporary file in the nearest directory that exists."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{str(probe)!r} is a file, not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{str(probe)!r} is not writable"
    try:  # root passes os.access everywhere; a read-only mount or a full disk does not pass this
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        return f"cannot write in {str(probe)!r}: {exc.strerror}"
    return None


def _convert(opt: Option, raw: Any, source: str) -> Any:
    if not isinstance(raw, str):
        return raw  # already parsed by argparse
    try:
        return opt.convert(raw)
    except ValueError as exc:
        shown = "<hidden>" if opt.secret else repr(raw)
        raise SettingsError(f"{opt.flag} {shown} (from {_origin(source)}): {exc}") from None


def _origin(source: str) -> str:
    """"the command line", "environment ASCEND_OSS_CTX", "ini ascend_oss_ctx" or "default"."""
    return "the command line" if source.startswith("command line") else source

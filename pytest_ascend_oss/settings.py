"""The plugin's options and how each value is resolved.

Precedence, for every option: command line > environment (``ASCEND_OSS_<NAME>``) > ini > default.
The table below is the single place an option is declared; ``plugin.py`` registers it with pytest
and the README documents it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "ASCEND_OSS_"


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


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false (1/0, yes/no, on/off)")


def _url(text: str) -> str:
    text = text.strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    # Users paste the guide's full endpoint; the plugin wants the server root.
    for suffix in ("/v1/chat/completions", "/v1/completions", "/v1"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    return text


OPTIONS: tuple[Option, ...] = (
    Option("base_url", "attach to a running server at URL (never launched or killed)", _url,
           metavar="URL"),
    Option("server_cmd", "launch this server command, e.g. \"vllm serve /models/gpt-oss-20b "
           "--dtype bfloat16\" (--port, --host and --served-model-name are added when absent)",
           metavar="CMD"),
    Option("model_name", "served model name to request (default: the launched name, or the only "
           "model an attached server lists)", metavar="NAME"),
    Option("profile", "thresholds profile (default: cpu-canary for the embedded server, "
           "atlas-800-a2 otherwise)", metavar="NAME"),
    Option("thresholds", "thresholds file (default: the thresholds.toml shipped with the plugin)",
           Path, metavar="PATH"),
    Option("ctx", "largest context length the long-context suite tries (default: the "
           "profile's long_context.context_length, 131072)", _positive_int, metavar="N"),
    Option("niah_lengths", "long-context: comma-separated context lengths instead of the grid "
           "derived from --ctx", metavar="N,N"),
    Option("niah_depths", "long-context: comma-separated needle depths in percent",
           default="0,25,50,75,100", metavar="D,D"),
    Option("niah_language", "long-context: haystack language, en or zh", default="en",
           metavar="LANG"),
    Option("niah_max_tokens", "long-context: tokens reserved for the answer (analysis + final)",
           _positive_int, default=256, metavar="N"),
    Option("niah_reasoning_effort", "long-context: reasoning effort pinned in every request",
           default="low", metavar="EFFORT"),
    Option("allow_fallback", "judge a launched server even when it came up only on a lower "
           "rung of the fallback ladder (a retry, or --enforce-eager); every verdict then says "
           "so", _boolean, default=False, switch=True),
    Option("results_dir", "where results.json, server logs and reports go", Path,
           default=Path("results"), metavar="DIR"),
    Option("startup_timeout", "seconds to wait for a launched server to be ready",
           _positive_float, default=1800.0, metavar="S"),
    Option("record_baseline", "precision: record this server's outputs as a baseline FILE",
           Path, metavar="FILE"),
    Option("baseline", "precision: compare against this baseline FILE", Path, metavar="FILE"),
    Option("baseline_url", "precision: compare against this live reference server", _url,
           metavar="URL"),
    Option("prompts", "precision prompt set (default: the shipped 57 EN/ZH prompts)", Path,
           metavar="FILE"),
    Option("precision_max_tokens", "precision: max_tokens per prompt (the guide: 256)",
           _positive_int, default=256, metavar="N"),
    Option("precision_endpoint", "precision: completions (token ids, identical inputs) or "
           "chat (the server renders; inputs may differ by host and date)", default="completions",
           metavar="ENDPOINT"),
    Option("checkpoint", "checkpoint directory for the hidden-state probe (default: the "
           "launched or embedded model)", Path, metavar="DIR"),
    Option("hidden_device", "hidden-state probe device: cpu, or npu on an Ascend host",
           default="cpu", metavar="DEV"),
    Option("hidden_dtype", "hidden-state probe dtype under test", default="bfloat16",
           metavar="DTYPE"),
    Option("api_key", "API key sent as a bearer token (default: from the environment; never "
           "printed or written)", secret=True, metavar="KEY", extra_env=("VLLM_API_KEY",)),
)


def default(name: str) -> Any:
    """The declared default of option ``name`` (the CLI uses the same defaults as the plugin)."""
    for opt in OPTIONS:
        if opt.name == name:
            return opt.default
    raise KeyError(name)


def parse_url(text: str) -> str:
    """A server URL as the options take it: the guide's full endpoint URLs are accepted."""
    return _url(text)


@dataclass(frozen=True)
class Settings:
    """The resolved options; its fields and defaults mirror OPTIONS (a project test pins it)."""

    base_url: str | None = None
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
    results_dir: Path = Path("results")
    startup_timeout: float = 1800.0
    record_baseline: Path | None = None
    baseline: Path | None = None
    baseline_url: str | None = None
    prompts: Path | None = None
    precision_max_tokens: int = 256
    precision_endpoint: str = "completions"
    checkpoint: Path | None = None
    hidden_device: str = "cpu"
    hidden_dtype: str = "bfloat16"
    api_key: str | None = field(default=None, repr=False)
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
                value = "<set>" if value else None
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
            f"--base-url ({sources['base_url']}) and --server-cmd ({sources['server_cmd']}) "
            "exclude each other: attach to a running server OR launch one"
        )
    return Settings(**values, sources=sources)


def _convert(opt: Option, raw: Any, source: str) -> Any:
    if not isinstance(raw, str):
        return raw  # already parsed by argparse
    try:
        return opt.convert(raw)
    except ValueError as exc:
        shown = "<hidden>" if opt.secret else repr(raw)
        raise SettingsError(f"{opt.flag} from {source}: bad value {shown}: {exc}") from None

"""Turn the user's ``--server-cmd`` into the exact argv we launch, and read facts back out of it."""

from __future__ import annotations

import shlex
import socket
from pathlib import PurePath

LOOPBACK = "127.0.0.1"


def split_command(command: str) -> list[str]:
    argv = shlex.split(command)
    if not argv:
        raise ValueError("--server-cmd is empty")
    return argv


def flag_value(argv: list[str], flag: str) -> str | None:
    """The value of ``--flag VALUE`` or ``--flag=VALUE`` (the last one wins, as in argparse)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def has_flag(argv: list[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv)


def model_path(argv: list[str]) -> str | None:
    """The checkpoint a vLLM command serves: ``vllm serve MODEL`` or ``--model MODEL``."""
    explicit = flag_value(argv, "--model")
    if explicit:
        return explicit
    if "serve" in argv:
        rest = argv[argv.index("serve") + 1 :]
        if rest and not rest[0].startswith("-"):
            return rest[0]
    return None


def default_served_name(argv: list[str]) -> str:
    """What clients call the model: vLLM's default is the model path; the guide's requests use
    the checkpoint directory's name (``/models/gpt-oss-20b`` -> ``gpt-oss-20b``)."""
    model = model_path(argv)
    return PurePath(model.rstrip("/")).name if model else "model"


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def complete_argv(argv: list[str], port: int | None = None) -> tuple[list[str], int, str]:
    """Add ``--host``, ``--port`` and ``--served-model-name`` where the user gave none.

    Returns the argv, the port it listens on and the served name. The host defaults to loopback:
    a test server is nobody else's business.
    """
    argv = list(argv)
    if not has_flag(argv, "--host"):
        argv += ["--host", LOOPBACK]
    given_port = flag_value(argv, "--port")
    if given_port is None:
        port = port or free_port()
        argv += ["--port", str(port)]
    else:
        port = int(given_port)
    served = flag_value(argv, "--served-model-name")
    if served is None:
        served = default_served_name(argv)
        argv += ["--served-model-name", served]
    return argv, port, served


def without_flags(argv: list[str], drop: dict[str, int]) -> list[str]:
    """``argv`` without the flags named in ``drop`` ({flag: how many values follow it}), in
    either spelling (``--flag VALUE`` or ``--flag=VALUE``)."""
    out, skip = [], 0
    for arg in argv:
        if skip:
            skip -= 1
            continue
        name = arg.split("=", 1)[0]
        if name in drop:
            skip = 0 if "=" in arg else drop[name]
            continue
        out.append(arg)
    return out


def with_flags(argv: list[str], flags: list[str]) -> list[str]:
    """``argv`` with ``flags`` (e.g. ``["--tensor-parallel-size", "2"]``) replacing any the
    command already gives, and without ``--port``: a variant runs beside the server under test
    and gets a port of its own."""
    drop = {"--port": 1}
    for i, arg in enumerate(flags):
        if arg.startswith("--"):
            name, _, inline = arg.partition("=")
            takes_value = not inline and i + 1 < len(flags) and not flags[i + 1].startswith("--")
            drop[name] = 1 if takes_value else 0
    return [*without_flags(argv, drop), *flags]


def ranks(argv: list[str]) -> int:
    """How many worker processes the command starts: tensor x pipeline x data parallel."""
    total = 1
    for flag in ("--tensor-parallel-size", "--pipeline-parallel-size", "--data-parallel-size"):
        value = flag_value(argv, flag)
        total *= int(value) if value and value.isdigit() else 1
    return total


def with_eager(argv: list[str]) -> list[str]:
    return argv if "--enforce-eager" in argv else [*argv, "--enforce-eager"]


def redact(argv: list[str]) -> list[str]:
    """The argv as it may be printed or stored: ``--api-key`` values hidden."""
    out, hide_next = [], False
    for arg in argv:
        if hide_next:
            out.append("<hidden>")
            hide_next = False
        elif arg == "--api-key":
            out.append(arg)
            hide_next = True
        elif arg.startswith("--api-key="):
            out.append("--api-key=<hidden>")
        else:
            out.append(arg)
    return out

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

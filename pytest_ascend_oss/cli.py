"""``ascend-oss``: the plugin's tools for use outside pytest."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _serve_embedded(args: argparse.Namespace) -> int:
    from .embedded.serve import embedded_command
    from .server.launcher import StartupError, launch

    extra = ["--port", str(args.port)] if args.port else []
    argv, env = embedded_command(args.dtype, args.max_model_len, extra)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` stops the server like Ctrl-C
    started: list = []
    try:
        server, endpoint = launch(argv, Path(args.log_dir), args.startup_timeout, env=env,
                                  on_start=started.append)
        print(f"serving {endpoint.model!r} at {endpoint.base_url} (log: {endpoint.log_path}); "
              "Ctrl-C stops it", flush=True)
        while server.exit_code() is None:
            time.sleep(1.0)
        print(f"server exited with code {server.exit_code()}; log: {endpoint.log_path}",
              file=sys.stderr)
        return 1
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping the server", file=sys.stderr)
        return 130
    finally:
        for server_process in started:
            server_process.stop()


def _vocab(args: argparse.Namespace) -> int:
    from .embedded.vocab import VocabError, ensure_vocab

    try:
        directory = ensure_vocab(Path(args.directory))
    except VocabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"verified o200k_base.tiktoken in {directory}; export TIKTOKEN_ENCODINGS_BASE={directory}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ascend-oss", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve-embedded",
        help="serve the embedded tiny GPT-OSS model with vLLM CPU in the foreground",
    )
    serve.add_argument("--port", type=int, default=None, help="listen port (default: a free one)")
    serve.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16")
    serve.add_argument("--max-model-len", type=int, default=131_072)
    serve.add_argument("--log-dir", default="results", help="where the server log goes")
    serve.add_argument("--startup-timeout", type=float, default=600.0)
    serve.set_defaults(run=_serve_embedded)

    vocab = commands.add_parser(
        "vocab", help="write a verified o200k_base.tiktoken for TIKTOKEN_ENCODINGS_BASE, offline"
    )
    vocab.add_argument("directory")
    vocab.set_defaults(run=_vocab)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``ascend-oss``: the plugin's tools for use outside pytest."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from .report.files import write_json_atomic
from .settings import default, parse_url
from .thresholds import DEFAULT_PROFILE


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _serve_embedded(args: argparse.Namespace) -> int:
    from .embedded.serve import embedded_command
    from .server.launcher import StartupError, launch

    extra = ["--port", str(args.port)] if args.port else []
    sizing = {"max_model_len": args.max_model_len} if args.max_model_len else {}
    argv, env = embedded_command(args.dtype, extra=extra, perturb=args.perturb, **sizing)
    # `kill PID` stops the server like Ctrl-C; SIGINT is set explicitly because a shell's
    # background job inherits it ignored, and then Python would not raise KeyboardInterrupt.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
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
    from .gptoss.vocab import VocabError, ensure_vocab

    try:
        directory = ensure_vocab(Path(args.directory))
    except VocabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"verified o200k_base.tiktoken in {directory}; export TIKTOKEN_ENCODINGS_BASE={directory}")
    return 0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _print_verdict(gates) -> int:
    """Exit status from the gates: 0 when every one passed, 2 otherwise (each failure and each
    criterion that could not be measured printed)."""
    from .gates import all_passed

    for gate in gates:
        if not gate.passed:
            print(f"{gate.status}: {gate.message()}")
    return 0 if all_passed(gates) else 2


def _benchmark(args: argparse.Namespace) -> int:
    """The guide's benchmark.py: one load run, figures printed, vllm-bench-style JSON written."""
    import httpx

    from .load.workload import WorkloadError
    from .server.launcher import StartupError, attach
    from .suites.performance import report, run
    from .transport.http import ServerError

    endpoint = args.endpoint or ("chat" if args.api_url.rstrip("/").endswith("/chat/completions")
                                 else "completions")
    try:
        base_url = parse_url(args.api_url)
        server = attach(base_url, args.model, args.api_key)
        level = run.benchmark(
            base_url, server.model, args.concurrency, args.num_requests, args.prompt_tokens,
            args.max_tokens, Path(args.output), endpoint=endpoint, warmup=args.warmup,
            request_rate=args.request_rate, api_key=args.api_key, progress=_progress)
    except (ValueError, StartupError, WorkloadError, ServerError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report.summary_lines(level)))
    print(f"results: {args.output}")
    return 1 if level.metrics["failed"] else 0


def _verify_precision(args: argparse.Namespace) -> int:
    """The guide's verify_precision.py: compare a server with a reference server or baseline."""
    import httpx

    from .server.launcher import StartupError, attach
    from .suites.precision import baseline, collect, prompts, run
    from .thresholds import ThresholdsError, load

    try:
        profile = load(args.thresholds, args.profile)
        npu = attach(parse_url(args.npu_url), args.model, args.api_key)
        result = run.verify(
            npu.base_url, npu.model, api_key=args.api_key, max_tokens=args.max_tokens,
            prompts_path=args.test_prompts, baseline_path=args.baseline,
            reference_url=parse_url(args.gpu_url) if args.gpu_url else None,
            record_path=args.record, checkpoint=args.checkpoint,
            hidden_device=args.hidden_device, hidden_dtype=args.hidden_dtype,
            endpoint=args.endpoint, progress=_progress)
    except (ValueError, StartupError, baseline.BaselineError, prompts.PromptError,
            ThresholdsError, collect.PrecisionError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if "recorded" in result:
        print(f"baseline recorded: {result['recorded']}")
        return 0
    if "skip" in result:
        print(f"error: {result['skip']}", file=sys.stderr)
        return 1
    output = Path(args.output)
    criteria = run.gates(result, profile.values["precision"], profile.sources("precision"),
                         str(output))
    run.write_reports(result, criteria, output, output.with_suffix(".md"), result["reference"])
    print(output.with_suffix(".md").read_text(encoding="utf-8"))
    print(f"report: {output} (+ .md)")
    return _print_verdict(list(criteria.values()))


def _long_context(args: argparse.Namespace) -> int:
    """The guide's test_long_context.py: the needle grid against a running server."""
    import httpx

    from .server.launcher import StartupError, attach
    from .suites.long_context import cases, haystack
    from .suites.long_context.run import LongContextRun, ReportPaths
    from .thresholds import ThresholdsError, load
    from .transport.http import ServerError

    started = time.monotonic()
    try:
        profile = load(args.thresholds, args.profile)
        plan = cases.plan(
            args.max_context_len or profile.get("long_context", "context_length"),
            args.lengths, args.depths,
            profile.get("long_context", "variants") if args.variants is None else args.variants,
            lengths_name="--lengths", depths_name="--depths")
        server = attach(parse_url(args.api_url), args.model, args.api_key)
        settings = cases.NeedleSettings(
            max_tokens=args.max_tokens, reasoning_effort=args.reasoning_effort or None,
            language=args.language, needle=args.needle, question=args.question)
        run = LongContextRun(server.base_url, server.model, plan, settings,
                             profile.values["long_context"], profile.sources("long_context"),
                             ReportPaths.beside(Path(args.output)), profile.name,
                             api_key=args.api_key, progress=_progress)
        try:
            gates = run.run_all()
        finally:
            run.close()
    except (ValueError, StartupError, ThresholdsError, haystack.HaystackError,
            cases.NeedleError, ServerError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(run.markdown())
    print(f"report: {args.output} (+ .md, .png); {len(run.outcomes)} cases in "
          f"{time.monotonic() - started:.0f} s")
    return _print_verdict(gates)


def _capabilities(args: argparse.Namespace) -> int:
    """Count what the served model can do (the canary's five capabilities)."""

    import httpx

    from .embedded.canary import capabilities
    from .embedded.model import MODEL_NAME, model_dir
    from .server.launcher import StartupError, attach
    from .suites.long_context import cases
    from .transport.http import ServerError

    try:
        server = attach(parse_url(args.api_url), args.model, args.api_key)
        checkpoint = args.checkpoint
        if checkpoint is None and server.model == MODEL_NAME:
            checkpoint = model_dir()
        result = capabilities.report(
            server.base_url, server.model, args.api_key, checkpoint,
            cases.parse_int_list(args.lengths, "--lengths") if args.lengths else None,
            cases.parse_int_list(args.depths, "--depths") if args.depths else None,
            progress=_progress)
    except (ValueError, StartupError, cases.NeedleError, ServerError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    output = Path(args.output)
    write_json_atomic(output, result)
    table = capabilities.markdown(result)
    output.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table)
    print(f"report: {args.output} (+ .md), {result['wall_time_s']:.0f} s")
    return 0


def _add_server_args(parser: argparse.ArgumentParser, url_flag: str, url_help: str) -> None:
    """The running server a command attaches to: its URL, model and (hidden) API key."""
    parser.add_argument(url_flag, required=True, help=url_help)
    parser.add_argument("--model", default=None, help="served model (default: the only one)")
    parser.add_argument("--api-key", default=os.environ.get("ASCEND_OSS_API_KEY")
                        or os.environ.get("VLLM_API_KEY"), help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    from .suites.long_context import cases as long_context_cases
    from .suites.long_context.haystack import LANGUAGES as haystack_languages

    parser = argparse.ArgumentParser(prog="ascend-oss", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve-embedded",
        help="serve the embedded tiny GPT-OSS model with vLLM CPU in the foreground",
    )
    serve.add_argument("--port", type=int, default=None, help="listen port (default: a free one)")
    serve.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16")
    serve.add_argument("--max-model-len", type=int, default=None,
                       help="context limit (default: the canary's 131072)")
    serve.add_argument("--log-dir", default=str(default("results_dir")),
                       help="where the server log goes")
    serve.add_argument("--perturb", type=float, default=0.0, metavar="SIGMA",
                       help="add seeded Gaussian noise of SIGMA x each tensor's std to every "
                            "weight (a deliberately broken deployment)")
    serve.add_argument("--startup-timeout", type=float, default=600.0)
    serve.set_defaults(run=_serve_embedded)

    bench = commands.add_parser(
        "benchmark", help="the guide's benchmark.py: load a running server at one concurrency")
    _add_server_args(bench, "--api-url", "server root or the guide's endpoint URL (a "
                     "/chat/completions URL selects the chat endpoint)")
    bench.add_argument("--num-requests", type=int, default=50, help="measured requests")
    bench.add_argument("--max-tokens", type=int, default=256, help="output tokens per request")
    bench.add_argument("--concurrency", type=int, default=1)
    bench.add_argument("--output", default="benchmark.json")
    bench.add_argument("--prompt-tokens", type=int, default=1024)
    bench.add_argument("--endpoint", choices=("completions", "chat"), default=None)
    bench.add_argument("--warmup", type=int, default=None,
                       help="warm-up requests, excluded (default: the concurrency)")
    bench.add_argument("--request-rate", type=float, default=None,
                       help="open loop: Poisson arrivals per second (concurrency caps in-flight)")
    bench.set_defaults(run=_benchmark)

    verify = commands.add_parser(
        "verify-precision", help="the guide's verify_precision.py: compare with a reference")
    _add_server_args(verify, "--npu-url", "server under test")
    ref = verify.add_mutually_exclusive_group(required=True)
    ref.add_argument("--gpu-url", help="live reference server (e.g. the GPU baseline)")
    ref.add_argument("--baseline", type=Path, help="baseline file recorded earlier")
    ref.add_argument("--record", type=Path, help="record --npu-url as a baseline file instead")
    verify.add_argument("--test-prompts", type=Path, default=None,
                        help="prompt set JSON (default: the shipped 57 EN/ZH prompts)")
    verify.add_argument("--output", default="precision_report.json")
    verify.add_argument("--max-tokens", type=int, default=default("precision_max_tokens"))
    verify.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint directory for the hidden-state probe")
    verify.add_argument("--endpoint", choices=("completions", "chat"),
                        default=default("precision_endpoint"),
                        help="completions: token ids, identical inputs (default); chat: the "
                             "servers render the prompts, which may differ by host and date")
    verify.add_argument("--hidden-device", default=default("hidden_device"))
    verify.add_argument("--hidden-dtype", default=default("hidden_dtype"))
    verify.add_argument("--profile", default=DEFAULT_PROFILE)
    verify.add_argument("--thresholds", type=Path, default=None)
    verify.set_defaults(run=_verify_precision)

    long_context = commands.add_parser(
        "long-context", help="the guide's test_long_context.py: needle in a haystack grid")
    _add_server_args(long_context, "--api-url", "server root or its /v1/chat/completions URL")
    long_context.add_argument("--max-context-len", type=int, default=None,
                      help="largest context; the grid's lengths derive from it (default: the "
                           "profile's long_context.context_length, 131072 for the guide)")
    long_context.add_argument("--lengths", default=None, help="comma-separated lengths instead")
    long_context.add_argument("--depths", default=default("niah_depths"))
    long_context.add_argument("--needle", default=long_context_cases.GUIDE_NEEDLE)
    long_context.add_argument("--question", default=long_context_cases.GUIDE_QUESTION)
    long_context.add_argument("--variants", nargs="*", default=None,
                      choices=tuple(long_context_cases.VARIANT_DEPTH),
                      help="variants run at every length besides the guide's needle (default: "
                           "the profile's long_context.variants; give none for the needle only)")
    long_context.add_argument("--language", choices=haystack_languages,
                              default=default("niah_language"))
    long_context.add_argument("--max-tokens", type=int, default=default("niah_max_tokens"),
                      help="tokens reserved for the answer (analysis and final)")
    long_context.add_argument("--reasoning-effort", default=default("niah_reasoning_effort"))
    long_context.add_argument("--output", default="long_context_report.json")
    long_context.add_argument("--profile", default=DEFAULT_PROFILE)
    long_context.add_argument("--thresholds", type=Path, default=None)
    long_context.set_defaults(run=_long_context)

    caps = commands.add_parser(
        "capabilities", help="count what a served gpt-oss model can do (the canary's checks)")
    _add_server_args(caps, "--api-url", "server root or its /v1/chat/completions URL")
    caps.add_argument("--checkpoint", type=Path, default=None,
                      help="checkpoint for the float32 greedy comparison (default: the embedded "
                      "canary when it is the served model; otherwise skipped)")
    caps.add_argument("--lengths", default=None, help="needle lengths (default 1K..128K)")
    caps.add_argument("--depths", default=None, help="needle depths (default 0,25,50,75,100)")
    caps.add_argument("--output", default="capabilities.json")
    caps.set_defaults(run=_capabilities)

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

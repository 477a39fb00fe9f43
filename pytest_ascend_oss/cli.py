"""``ascend-oss``: the plugin's tools for use outside pytest."""

from __future__ import annotations

import argparse
import os
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
    argv, env = embedded_command(args.dtype, args.max_model_len, extra, perturb=args.perturb)
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
    from .embedded.vocab import VocabError, ensure_vocab

    try:
        directory = ensure_vocab(Path(args.directory))
    except VocabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"verified o200k_base.tiktoken in {directory}; export TIKTOKEN_ENCODINGS_BASE={directory}")
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    """The guide's benchmark.py: one load run, figures printed, vllm-bench-style JSON written."""
    import httpx

    from . import performance
    from .server.launcher import StartupError, attach
    from .settings import _url
    from .workload import WorkloadError

    endpoint = args.endpoint or ("chat" if args.api_url.rstrip("/").endswith("/chat/completions")
                                 else "completions")
    try:
        base_url = _url(args.api_url)
        server = attach(base_url, args.model, args.api_key)
        run = performance.measure_level(
            base_url, server.model, args.concurrency, args.num_requests, args.prompt_tokens,
            args.max_tokens, endpoint=endpoint, warmup=args.warmup, request_rate=args.request_rate,
            api_key=args.api_key, progress=lambda m: print(m, file=sys.stderr, flush=True))
    except (ValueError, StartupError, WorkloadError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    path = performance.write_json(run, server.model, base_url, Path(args.output))
    m = run.metrics
    print(f"concurrency {args.concurrency}, {m['completed']} completed, {m['failed']} failed, "
          f"{m['duration_s']:.1f} s")
    for name in ("ttft_ms", "ttft_first_chunk_ms", "tpot_ms", "itl_ms", "e2el_ms"):
        s = m[name]
        if s["n"]:
            print(f"  {name:<20} mean {s['mean']:9.2f}  median {s['median']:9.2f}  "
                  f"p90 {s['p90']:9.2f}  p99 {s['p99']:9.2f}  (n={s['n']})")
    print(f"  output throughput    {m['output_throughput']:.1f} tokens/s")
    print(f"  request throughput   {m['request_throughput']:.2f} req/s")
    print(f"results: {path}")
    return 1 if m["failed"] else 0


def _verify_precision(args: argparse.Namespace) -> int:
    """The guide's verify_precision.py: compare a server with a reference server or baseline."""
    import json

    import httpx

    from . import precision
    from .baseline import BaselineError
    from .prompts import PromptError
    from .server.launcher import StartupError, attach
    from .settings import _url
    from .thresholds import ThresholdsError, load

    try:
        limits = load(args.thresholds, args.profile).values["precision"]
        npu = attach(_url(args.npu_url), args.model, args.api_key)
        result = precision.verify(
            npu.base_url, npu.model, api_key=args.api_key, max_tokens=args.max_tokens,
            prompts_path=args.test_prompts, baseline_path=args.baseline,
            reference_url=_url(args.gpu_url) if args.gpu_url else None,
            record_path=args.record, checkpoint=args.checkpoint,
            hidden_device=args.hidden_device, hidden_dtype=args.hidden_dtype,
            endpoint=args.endpoint,
            progress=lambda m: print(m, file=sys.stderr, flush=True))
    except (ValueError, StartupError, BaselineError, PromptError, ThresholdsError,
            precision.PrecisionError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if "recorded" in result:
        print(f"baseline recorded: {result['recorded']}")
        return 0
    if "skip" in result:
        print(f"error: {result['skip']}", file=sys.stderr)
        return 1
    Path(args.output).write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(precision.markdown_table(result, limits, result["reference"]))
    print(f"report: {args.output}")
    ok = (result["token_match_rate"] >= limits["token_match_min"]
          and result["rouge_l"] >= limits["rouge_l_min"]
          and result["perplexity_rel_diff"] <= limits["perplexity_rel_diff_max"]
          and result["hidden_state"].get("mean", 1.0) >= limits["hidden_cosine_min"])
    return 0 if ok else 2


def _long_context(args: argparse.Namespace) -> int:
    """The guide's test_long_context.py: the needle grid against a running server."""
    import httpx

    from . import longcontext, longcontext_report
    from .haystack import HaystackError
    from .server.launcher import StartupError, attach
    from .settings import _url
    from .thresholds import ThresholdsError, load

    started = time.monotonic()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    try:
        limits = load(args.thresholds, args.profile).values["long_context"]
        server = attach(_url(args.api_url), args.model, args.api_key)
        lengths = (longcontext.parse_int_list(args.lengths, "--lengths") if args.lengths
                   else longcontext.grid_lengths(args.max_context_len))
        depths = longcontext.parse_int_list(args.depths, "--depths")
        settings = longcontext.Settings(
            max_tokens=args.max_tokens, reasoning_effort=args.reasoning_effort or None,
            language=args.language, needle=args.needle, question=args.question)
        runner = longcontext.Runner(server.base_url, server.model, settings, api_key=args.api_key,
                                    progress=lambda m: print(m, file=sys.stderr, flush=True),
                                    health_check_from=max(lengths))
        cases = [longcontext.Case("guide", n, d) for n in lengths for d in depths]
        for kind in args.variants:
            cases += [longcontext.Case(kind, n, 0 if kind == "none" else 50) for n in lengths]
        outcomes = []
        for case in cases:
            outcomes.append(runner.run(case))
            meta = {"model": server.model, "base_url": server.base_url,
                    "needle": settings.needle, "question": settings.question,
                    "max_tokens": settings.max_tokens, "language": settings.language,
                    "reasoning_effort": settings.reasoning_effort,
                    "max_model_len": runner.max_model_len, "ttft_max_s": limits["ttft_max_s"],
                    "wall_time_s": round(time.monotonic() - started, 1)}
            longcontext_report.write_json(Path(args.output), outcomes, meta)
        runner.close()
    except (ValueError, StartupError, ThresholdsError, HaystackError, longcontext.NeedleError,
            httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = Path(args.output)
    table = longcontext_report.markdown(outcomes, limits["ttft_max_s"], args.profile)
    out.with_suffix(".md").write_text(table)
    longcontext_report.heatmap(out.with_suffix(".png"), outcomes, limits["ttft_max_s"])
    print(table)
    print(f"report: {out} (+ .md, .png); {len(outcomes)} cases in "
          f"{time.monotonic() - started:.0f} s")
    ok = all(o.passed and o.ttft_s is not None and o.ttft_s < limits["ttft_max_s"]
             for o in outcomes)
    return 0 if ok else 2


def _capabilities(args: argparse.Namespace) -> int:
    """Count what the served model can do (the canary's five capabilities)."""
    import json

    import httpx

    from . import capabilities, longcontext
    from .server.launcher import StartupError, attach
    from .settings import _url

    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    try:
        server = attach(_url(args.api_url), args.model, args.api_key)
        checkpoint = args.checkpoint
        if checkpoint is None and server.model == _embedded_name():
            from .embedded.model import model_dir
            checkpoint = model_dir()
        result = capabilities.report(
            server.base_url, server.model, args.api_key, checkpoint,
            longcontext.parse_int_list(args.lengths, "--lengths") if args.lengths else None,
            longcontext.parse_int_list(args.depths, "--depths") if args.depths else None,
            progress=lambda m: print(m, file=sys.stderr, flush=True))
    except (ValueError, StartupError, longcontext.NeedleError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    Path(args.output).write_text(json.dumps(result, indent=1, ensure_ascii=False))
    table = capabilities.markdown(result)
    Path(args.output).with_suffix(".md").write_text(table)
    print(table)
    print(f"report: {args.output} (+ .md), {result['wall_time_s']:.0f} s")
    return 0


def _embedded_name() -> str:
    from .embedded.model import MODEL_NAME

    return MODEL_NAME


def _add_server_args(parser: argparse.ArgumentParser, url_flag: str, url_help: str) -> None:
    """The running server a command attaches to: its URL, model and (hidden) API key."""
    parser.add_argument(url_flag, required=True, help=url_help)
    parser.add_argument("--model", default=None, help="served model (default: the only one)")
    parser.add_argument("--api-key", default=os.environ.get("ASCEND_OSS_API_KEY")
                        or os.environ.get("VLLM_API_KEY"), help=argparse.SUPPRESS)


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
    verify.add_argument("--max-tokens", type=int, default=256)
    verify.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint directory for the hidden-state probe")
    verify.add_argument("--endpoint", choices=("completions", "chat"), default="completions",
                        help="completions: token ids, identical inputs (default); chat: the "
                             "servers render the prompts, which may differ by host and date")
    verify.add_argument("--hidden-device", default="cpu")
    verify.add_argument("--hidden-dtype", default="bfloat16")
    verify.add_argument("--profile", default="atlas-800-a2")
    verify.add_argument("--thresholds", type=Path, default=None)
    verify.set_defaults(run=_verify_precision)

    niah = commands.add_parser(
        "long-context", help="the guide's test_long_context.py: needle in a haystack grid")
    _add_server_args(niah, "--api-url", "server root or its /v1/chat/completions URL")
    niah.add_argument("--max-context-len", type=int, default=131_072,
                      help="largest context; the grid's lengths derive from it")
    niah.add_argument("--lengths", default=None, help="comma-separated lengths instead")
    niah.add_argument("--depths", default="0,25,50,75,100")
    niah.add_argument("--needle", default="The secret code is 7842.")
    niah.add_argument("--question", default="What is the secret code?")
    niah.add_argument("--variants", nargs="*", default=[], choices=("random", "keyed", "none"),
                      help="also run these variants at every length")
    niah.add_argument("--language", choices=("en", "zh"), default="en")
    niah.add_argument("--max-tokens", type=int, default=256,
                      help="tokens reserved for the answer (analysis and final)")
    niah.add_argument("--reasoning-effort", default="low")
    niah.add_argument("--output", default="long_context_report.json")
    niah.add_argument("--profile", default="atlas-800-a2")
    niah.add_argument("--thresholds", type=Path, default=None)
    niah.set_defaults(run=_long_context)

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

"""``ascend-oss``: the plugin's tools for use outside pytest.

Exit status: 0 every criterion passed (or the work is done), 1 the server or the run failed,
2 a criterion failed or could not be measured, 4 a usage error (as pytest's), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import settings as options
from .report.files import write_json_atomic
from .secret import secret_or_none
from .settings import default, parse_url
from .thresholds import DEFAULT_PROFILE

USAGE_ERROR = 4


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; 2 means "a criterion failed" here, so a usage error
    exits 4, as in pytest."""

    def error(self, message: str):
        # One line, not argparse's usage block: the message names the flag and the value.
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _arg(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from one of the options table's converters, keeping its message
    (argparse would print "invalid positive_int value")."""
    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

    parse.__name__ = convert.__name__
    return parse


def _parse_slo(text: str):
    from .suites.performance.capacity import parse_slo

    return parse_slo(text)


def _positive_ints(text: str) -> list[int]:
    """``1,4,16``: whole numbers >= 1, at least one, none repeated."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not all(part.lstrip("-").isdigit() for part in parts):
        raise ValueError("must be comma-separated whole numbers, e.g. 1,4,16")
    values = [options.positive_int(part) for part in parts]
    if not values or len(set(values)) != len(values):
        raise ValueError("expected distinct whole numbers >= 1, e.g. 1,4,16")
    return values


def _shapes(text: str):
    from .suites.performance.sweep import parse_shapes

    return parse_shapes(text)


def _at_least_two(text: str) -> int:
    value = options.positive_int(text)
    if value < 2:
        raise ValueError("must be at least 2 (a shared prefix needs a second turn)")
    return value


def _share(text: str) -> float:
    value = options.positive_float(text)
    if value > 1:
        raise ValueError("must be a share in (0, 1], e.g. 0.9")
    return value


def _server_url(text: str) -> str:
    """A server URL, checked; kept as typed (the benchmark picks its endpoint from the path)."""
    _arg(options.url)(text)
    return text


def _readable(want_dir: bool) -> Callable[[str], Path]:
    """An argparse type for a file (or directory) the command reads: it must be there."""
    def check(text: str) -> Path:
        problem = options.unreadable(Path(text), want_dir=want_dir)
        if problem:
            raise argparse.ArgumentTypeError(f"{text!r} {problem}")
        return Path(text)

    return check


_readable_file, _readable_dir = _readable(want_dir=False), _readable(want_dir=True)


def _output_file(text: str) -> Path:
    """A file the command will write: its directory must exist or be creatable, and writable."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; name a file")
    problem = options.unwritable_dir(path.parent)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r}: {problem}")
    return path


def _usage(args: argparse.Namespace, message: str) -> int:
    """A usage error found after parsing (two flags that contradict each other, a file of the
    wrong shape): one line, exit 4."""
    print(f"{args.prog}: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _serve_embedded(args: argparse.Namespace) -> int:
    from .embedded.serve import embedded_command
    from .server.launcher import StartupError, launch

    extra = ["--port", str(args.port)] if args.port else []
    sizing = {"max_model_len": args.max_model_len} if args.max_model_len else {}
    argv, env = embedded_command(args.dtype, extra=extra, perturb=args.perturb, **sizing)
    if args.pooling:
        from .server.stack import serving_version
        from .suites.precision.hidden import pooling_argv

        # the embedded server runs this Python's vLLM: its version decides the flags
        argv = pooling_argv(argv, serving_version(None)) + extra  # pooling_argv drops --port: put it back
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


def _convert_bf16(args: argparse.Namespace) -> int:
    try:
        from .checkpoint.convert_bf16 import ConvertError, convert
    except ImportError as exc:  # torch, transformers, safetensors: the embedded extra has them
        print(f"error: convert-bf16 needs torch, transformers and safetensors ({exc}); on a "
              "CPU host: pip install torch transformers safetensors", file=sys.stderr)
        return 1
    try:
        done = convert(Path(args.source), Path(args.destination), progress=_progress)
    except ConvertError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(done.summary())
    print(f"serve it with: vllm serve {done.output} --dtype bfloat16 (no quantization "
          "config: vllm-ascend loads it)")
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


def _endpoint(args: argparse.Namespace) -> str:
    """--endpoint, else the one the URL names (the guide's /v1/chat/completions URL: chat)."""
    return args.endpoint or ("chat" if args.api_url.rstrip("/").endswith("/chat/completions")
                             else "completions")


def _benchmark(args: argparse.Namespace) -> int:
    """The guide's benchmark.py: one load run, figures printed, vllm-bench-style JSON written."""
    import httpx

    from .load.workload import WorkloadError
    from .server.launcher import StartupError, attach
    from .suites.performance import report, run
    from .transport.http import ServerError

    endpoint = _endpoint(args)
    try:
        base_url = parse_url(args.api_url)
        server = attach(base_url, args.model, args.api_key)
        level = run.benchmark(
            base_url, server.model, args.concurrency, args.num_requests, args.prompt_tokens,
            args.max_tokens, Path(args.output), endpoint=endpoint, warmup=args.warmup,
            request_rate=args.request_rate, api_key=args.api_key,
            slo_ttft_ms=args.slo.ttft_ms if args.slo else None,
            slo_tpot_ms=args.slo.tpot_ms if args.slo else None, workers=args.workers,
            tokenizer=args.tokenizer, progress=_progress)
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
    from .suites.precision import baseline, collect, conversations, prompts, run
    from .suites.precision.hidden import HiddenStateError
    from .thresholds import ThresholdsError, load

    if args.gpu_url and parse_url(args.gpu_url) == parse_url(args.npu_url):
        return _usage(args, "--gpu-url is --npu-url: a server compared with itself "
                      "always agrees; give the reference (GPU) server or a --baseline file")
    if args.gpu_pooling_url and args.gpu_pooling_url == args.pooling_url:
        return _usage(args, "--gpu-pooling-url is --pooling-url: hidden states compared with "
                      "themselves always agree")
    if args.gpu_pooling_url and not args.gpu_url:
        return _usage(args, "--gpu-pooling-url is the pooling twin of --gpu-url; give both")
    if args.hidden_device and not args.checkpoint:
        return _usage(args, "--hidden-device runs the checkpoint probe, which needs "
                      "--checkpoint DIR")
    try:
        profile = load(args.thresholds, args.profile)
        prompts.load_prompts(args.test_prompts)  # a bad file is the user's, found before work
        if args.perplexity_corpus:
            conversations.load(args.perplexity_corpus, "")
        for path in (args.baseline, args.cpu_reference):
            if path:
                baseline.load(path)
    except (ThresholdsError, prompts.PromptError, baseline.BaselineError,
            conversations.CorpusError) as exc:
        return _usage(args, str(exc))
    try:
        npu = attach(parse_url(args.npu_url), args.model, args.api_key)
        result = run.verify(
            npu.base_url, npu.model, api_key=args.api_key, max_tokens=args.max_tokens,
            prompts_path=args.test_prompts, baseline_path=args.baseline,
            reference_url=parse_url(args.gpu_url) if args.gpu_url else None,
            record_path=args.record, pooling_url=args.pooling_url,
            reference_pooling_url=args.gpu_pooling_url, corpus=args.perplexity_corpus,
            cpu_reference=args.cpu_reference,
            endpoint=args.endpoint, progress=_progress)
    except (ValueError, StartupError, baseline.BaselineError, prompts.PromptError,
            ThresholdsError, collect.PrecisionError, conversations.CorpusError,
            HiddenStateError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if "recorded" in result:
        print(f"RECORDED (judges nothing): baseline {result['recorded']}"
              + ("" if result["hidden_states"] else "; WITHOUT hidden states (no --pooling-url):"
                 " a run judged against it cannot measure the hidden-state cosine"))
        return 0
    if "not_measured" in result:
        print(f"NOT MEASURED: {result['not_measured']}")
        return 2
    output = Path(args.output)
    criteria = run.gates(result, profile.values["precision"], profile.sources("precision"),
                         str(output))
    run.write_reports(result, criteria, output, output.with_suffix(".md"), result["reference"])
    print(output.with_suffix(".md").read_text(encoding="utf-8"))
    if args.hidden_device:  # informational: the torch kernels, not the server
        probe = run.probe_kernels(args.checkpoint, [p["prompt_ids"] for p in run.render_prompts(
            prompts.load_prompts(args.test_prompts)[0])], args.hidden_device, args.hidden_dtype)
        print("checkpoint probe (not a criterion): " + (probe.get("error") or (
            f"{probe['dtype']} on {probe['device']} vs float32 CPU, mean cosine "
            f"{probe['mean']:.5f}, min {probe['min']:.5f} over {probe['tokens']} tokens")))
    print(f"report: {output} (+ .md)")
    return _print_verdict(list(criteria.values()))


def _record_reference(args: argparse.Namespace) -> int:
    """The guide's "CPU FP32" reference: a baseline file computed by transformers in float32."""
    from .suites.precision import baseline, conversations, prompts, run
    from .suites.precision import reference as fp32

    try:
        prompt_set, _ = prompts.load_prompts(args.test_prompts)
        chosen = conversations.load(args.perplexity_corpus, args.model)
        rendered_corpus = conversations.render(chosen)
        meta = run.metadata(args.model, args.max_tokens, args.test_prompts, "completions",
                            chosen, rendered_corpus)
        need = fp32.check_memory(args.checkpoint)  # before anything is loaded
    except (prompts.PromptError, conversations.CorpusError, fp32.ReferenceError) as exc:
        return _usage(args, str(exc))
    _progress(f"float32 reference of {args.checkpoint}: about {need / 2**30:.1f} GiB of memory")
    started = time.monotonic()
    try:
        data = fp32.baseline_for(args.checkpoint, meta, run.render_prompts(prompt_set),
                                 rendered_corpus, _progress)
    except (OSError, ValueError, ImportError, fp32.ReferenceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    path = baseline.save(args.output, data)
    print(f"RECORDED (judges nothing): float32 reference {path} ({path.stat().st_size / 1e6:.1f}"
          f" MB, {len(data['prompts'])} prompts, {time.monotonic() - started:.0f} s); judge a "
          f"server with: pytest -m precision --baseline {path} (or ascend-oss verify-precision "
          f"--baseline {path})")
    return 0


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
    except (ThresholdsError, cases.NeedleError) as exc:
        return _usage(args, str(exc))
    try:
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
    """Count what the served model can do (capabilities.py lists the counts)."""

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


def _report(args: argparse.Namespace) -> int:
    """One report in the guide's structure from a results directory (rebuilt at any time)."""
    from .report import compare, guide, html
    from .report.files import write_text_atomic

    if (args.results_dir is None) == (args.compare is None):
        return _usage(args, "give one RESULTS_DIR, or --compare RUN_A RUN_B")
    try:
        if args.compare:
            text = compare.markdown(*args.compare)
            md = write_text_atomic(Path(args.output), text)
            page = write_text_atomic(md.with_suffix(".html"),
                                     html.render(text, md.parent, "comparison"))
        else:
            data = guide.load_results(args.results_dir)
            md, page = guide.write(Path(args.results_dir), data)
    except guide.ReportError as exc:
        return _usage(args, str(exc))
    print(f"report: {page} ({page.stat().st_size:,} bytes), {md}")
    return 0


def _capacity(args: argparse.Namespace) -> int:
    """The largest concurrency whose requests meet the SLO at the attainment target."""
    import httpx

    from .load.workload import WorkloadError
    from .server.launcher import StartupError, attach
    from .suites.performance import capacity
    from .transport.http import ServerError

    endpoint = _endpoint(args)
    slo = args.slo
    try:
        base_url = parse_url(args.api_url)
        server = attach(base_url, args.model, args.api_key)

        def measure(c: int) -> capacity.Probe:
            return capacity.measure_probe(base_url, server.model, c, args.requests_per_stream,
                                          args.prompt_tokens, args.max_tokens, slo, endpoint,
                                          args.api_key, args.workers, args.tokenizer)

        found = capacity.search(measure, args.attainment, args.start, args.max_concurrency,
                                progress=_progress)
    except (ValueError, StartupError, WorkloadError, ServerError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_json_atomic(Path(args.output), {
        "base_url": base_url, "model": server.model, "endpoint": endpoint,
        "slo": {"ttft_ms": slo.ttft_ms, "tpot_ms": slo.tpot_ms},
        "prompt_tokens": args.prompt_tokens, "output_tokens": args.max_tokens,
        "requests_per_stream": args.requests_per_stream, **found})
    at_least = "" if found["bounded"] else "at least "
    print(f"capacity: {at_least}{found['capacity']} concurrent streams with >= "
          f"{100 * args.attainment:.0f} % of requests within the SLO, goodput "
          f"{found['goodput']:.2f} req/s")
    for p in found["probes"]:
        print(f"  c={p['concurrency']:<5} attainment {100 * p['attainment']:5.1f} %  goodput "
              f"{p['goodput']:8.2f} req/s  median TTFT {p['median_ttft_ms'] or 0:8.1f} ms  "
              f"median TPOT {p['median_tpot_ms'] or 0:7.2f} ms  failed {p['failed']}")
    print(f"results: {args.output}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    """Every concurrency at every length pair; one JSON and a Pareto plot."""
    import httpx

    from .load.workload import WorkloadError
    from .server.launcher import StartupError, attach
    from .suites.performance import bench, sweep
    from .transport.http import ServerError

    endpoint = _endpoint(args)
    output = Path(args.output)
    try:
        base_url = parse_url(args.api_url)
        server = attach(base_url, args.model, args.api_key)

        def measure(c: int, shape: sweep.Shape, json_path: Path) -> bench.LevelRun:
            run = bench.measure_level(
                base_url, server.model, c, max(args.min_requests, args.requests_per_stream * c),
                shape.prompt_tokens, shape.output_tokens, endpoint=endpoint,
                api_key=args.api_key, slo_ttft_ms=args.slo.ttft_ms if args.slo else None,
                slo_tpot_ms=args.slo.tpot_ms if args.slo else None, workers=args.workers,
                tokenizer=args.tokenizer, progress=_progress)
            bench.write_json(run, server.model, base_url, json_path)
            return run

        found = sweep.sweep(measure, args.concurrency, args.lengths, output, {
            "base_url": base_url, "model": server.model, "endpoint": endpoint,
            "slo": {"ttft_ms": args.slo.ttft_ms, "tpot_ms": args.slo.tpot_ms}
            if args.slo else None}, progress=_progress)
    except (ValueError, StartupError, WorkloadError, ServerError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("| in:out | c | median TTFT ms | median TPOT ms | tokens/s/user | output tokens/s "
          "| req/s | failed | Pareto |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i, p in enumerate(found["points"]):
        per_user = p["per_user_output_tokens_s"]
        print(f"| {p['prompt_tokens']}:{p['output_tokens']} | {p['concurrency']} "
              f"| {_figure(p['median_ttft_ms'], 1)} | {_figure(p['median_tpot_ms'], 2)} "
              f"| {_figure(per_user, 1)} | {p['output_throughput']:.1f} "
              f"| {p['request_throughput']:.2f} | {p['failed']} "
              f"| {'yes' if any(i in f for f in found['pareto'].values()) else ''} |")
    print(f"results: {output}; plot: {found['plot']}")
    return 1 if any(p["failed"] for p in found["points"]) else 0


def _multiturn(args: argparse.Namespace) -> int:
    """Conversations that extend turn by turn: prefix-cache hit rate, TTFT with the shared
    prefix and without."""
    import httpx

    from .load.workload import WorkloadError
    from .server.launcher import StartupError, attach
    from .suites.performance import multiturn
    from .transport.http import ServerError

    try:
        base_url = parse_url(args.api_url)
        server = attach(base_url, args.model, args.api_key)
        found = multiturn.run(base_url, server.model, args.conversations, args.turns,
                              args.user_words, args.max_tokens, args.concurrency,
                              api_key=args.api_key, progress=_progress)
    except (ValueError, StartupError, WorkloadError, ServerError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_json_atomic(Path(args.output), {"base_url": base_url, "model": server.model, **found})
    rate = found["prefix_cache_hit_rate_server"]
    print(f"prefix-cache hit rate (server counters): {_figure(rate and 100 * rate, 1)} %; "
          f"failed turns: {found['failed_turns']}")
    print("| turn | requests | median prompt tokens (cold) | median TTFT ms, shared prefix "
          "| median TTFT ms, cold twin | cold / shared |")
    print("|---|---|---|---|---|---|")
    for row in found["by_turn"]:
        print(f"| {row['turn']} | {row['requests']} | {_figure(row['median_prompt_tokens'], 0)} "
              f"({_figure(row['median_cold_prompt_tokens'], 0)}) "
              f"| {_figure(row['median_ttft_ms'], 1)} | {_figure(row['median_cold_ttft_ms'], 1)} "
              f"| {_figure(row.get('cold_over_shared'), 2)} |")
    print(f"results: {args.output}")
    return 1 if found["failed_turns"] or found["cold_failed"] else 0


def _figure(value: float | None, decimals: int) -> str:
    return "-" if value is None else f"{value:.{decimals}f}"


def _default_tests_dir() -> Path | None:
    """The acceptance suite: tests/ beside the package in a checkout (pip install -e .), else
    the copy a wheel ships as pytest_ascend_oss/acceptance (setup.py); ``--tests DIR`` names
    another."""
    for tests in (Path(__file__).resolve().parents[1] / "tests",
                  Path(__file__).resolve().parent / "acceptance"):
        if (tests / "test_selfcheck.py").is_file():
            return tests
    return None


def _selfcheck(args: argparse.Namespace) -> int:
    """`pytest -m selfcheck` on the acceptance suite, then the matrix's one-line summary."""
    import json

    import pytest

    from .selfcheck.report import summary, unmeasured

    tests = args.tests or _default_tests_dir()
    if tests is None or not (tests / "test_selfcheck.py").is_file():
        return _usage(args, f"no acceptance suite with test_selfcheck.py in "
                            f"{tests or 'this install'}: give the checkout's tests/ with --tests")
    extra = [a for a in args.pytest_args if a != "--"]
    # In-process: this module imported the plugin before pytest could mark it for assertion
    # rewriting, which pytest warns about; the plugin asserts nothing that needs rewriting.
    argv = [str(tests), "-m", "selfcheck", "-p", "no:cacheprovider",
            "-W", "ignore::pytest.PytestAssertRewriteWarning",
            "--rootdir", str(tests.parent), "--results-dir", str(args.results_dir),
            *(["--selfcheck-quick"] if args.quick else []), *extra]
    code = pytest.main(argv)
    matrix = Path(args.results_dir) / "selfcheck" / "selfcheck.json"
    short = None
    if matrix.is_file():
        data = json.loads(matrix.read_text(encoding="utf-8"))
        print(summary(data))
        print(f"matrix: {matrix.with_suffix('.md')}")
        short = unmeasured(data)
    if int(code) == 0 and short is not None:  # skipped cells pass pytest; they prove nothing
        print(f"NOT MEASURED: {short}")
        return 2
    # pytest: 0 passed, 1 a test failed, 2 interrupted, 4 usage; ours: 2 a check failed
    return {0: 0, 1: 2, 2: 130, 4: 4}.get(int(code), 1)


def _add_server_args(parser: argparse.ArgumentParser, url_flag: str, url_help: str) -> None:
    """The running server a command attaches to: its URL, model and (hidden) API key."""
    parser.add_argument(url_flag, required=True, type=_server_url, help=url_help)
    parser.add_argument("--model", default=None, help="served model (default: the only one)")
    # A Secret from the start: no traceback or error message can show the key.
    parser.add_argument("--api-key", type=secret_or_none,
                        default=secret_or_none(os.environ.get("ASCEND_OSS_API_KEY")
                                               or os.environ.get("VLLM_API_KEY")),
                        help=argparse.SUPPRESS)


def _add_load_args(parser: argparse.ArgumentParser) -> None:
    """How the load is made: its processes, and who counts prompt tokens."""
    parser.add_argument("--workers", type=_arg(options.positive_int), default=None,
                        help="load processes, each with its own event loop and connections "
                             "(default: one per 64 streams, at most one per core)")
    parser.add_argument("--tokenizer", type=_readable_dir, default=None,
                        metavar="DIR",
                        help="the checkpoint's tokenizer files, for a server without /tokenize "
                             "(another engine, a gateway); without either, prompts are sized "
                             "approximately from the server's usage")


def build_parser() -> argparse.ArgumentParser:
    from .suites.long_context import cases as long_context_cases
    from .suites.long_context.haystack import LANGUAGES as haystack_languages

    parser = _Parser(prog="ascend-oss", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve-embedded",
        help="serve the embedded tiny GPT-OSS model with vLLM CPU in the foreground",
    )
    serve.add_argument("--port", type=_arg(options.port), default=None,
                       help="listen port (default: a free one)")
    serve.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16")
    serve.add_argument("--max-model-len", type=_arg(options.positive_int), default=None,
                       help="context limit (default: the canary's 131072)")
    serve.add_argument("--log-dir", default=str(default("results_dir")),
                       help="where the server log goes")
    serve.add_argument("--perturb", type=_arg(options.non_negative_float), default=0.0,
                       metavar="SIGMA",
                       help="add seeded Gaussian noise of SIGMA x each tensor's std to every "
                            "weight (a deliberately broken deployment)")
    serve.add_argument("--pooling", action="store_true",
                       help="serve the pooling twin instead: per-token last-layer hidden states "
                            "on /pooling (verify-precision --pooling-url, pytest --pooling-url)")
    serve.add_argument("--startup-timeout", type=_arg(options.positive_float), default=600.0)
    serve.set_defaults(run=_serve_embedded)

    bench = commands.add_parser(
        "benchmark", help="the guide's benchmark.py: load a running server at one concurrency")
    _add_server_args(bench, "--api-url", "server root or the guide's endpoint URL (a "
                     "/chat/completions URL selects the chat endpoint)")
    bench.add_argument("--num-requests", type=_arg(options.positive_int), default=50,
                       help="measured requests")
    bench.add_argument("--max-tokens", type=_arg(options.positive_int), default=256,
                       help="output tokens per request")
    bench.add_argument("--concurrency", type=_arg(options.positive_int), default=1)
    bench.add_argument("--output", type=_output_file, default="benchmark.json")
    bench.add_argument("--prompt-tokens", type=_arg(options.positive_int), default=1024)
    bench.add_argument("--endpoint", choices=("completions", "chat"), default=None)
    bench.add_argument("--warmup", type=_arg(options.non_negative_int), default=None,
                       help="warm-up requests, excluded (default: the concurrency)")
    bench.add_argument("--request-rate", type=_arg(options.positive_float), default=None,
                       help="open loop: Poisson arrivals per second (concurrency caps in-flight)")
    bench.add_argument("--slo", type=_arg(_parse_slo), default=None,
                       help="goodput's objectives per request, e.g. ttft_ms=100,tpot_ms=20 "
                            "(without: no goodput)")
    _add_load_args(bench)
    bench.set_defaults(run=_benchmark)

    cap = commands.add_parser(
        "capacity", help="the largest concurrency that meets a latency SLO: doubling, then "
                         "bisection, judged per request")
    _add_server_args(cap, "--api-url", "server root or the guide's endpoint URL")
    cap.add_argument("--slo", type=_arg(_parse_slo), required=True,
                     help="objectives per request, e.g. ttft_ms=100,tpot_ms=20 (the guide's)")
    cap.add_argument("--attainment", type=_arg(_share), default=0.9,
                     help="share of requests that must meet every objective (default 0.9)")
    cap.add_argument("--prompt-tokens", type=_arg(options.positive_int), default=1024)
    cap.add_argument("--max-tokens", type=_arg(options.positive_int), default=256,
                     help="output tokens per request")
    cap.add_argument("--requests-per-stream", type=_arg(options.positive_int), default=4,
                     help="measured requests per level = this x its concurrency, at least "
                          "20 (attainment is a share: 5 requests make one slow request 20 %%)")
    cap.add_argument("--start", type=_arg(options.positive_int), default=1)
    cap.add_argument("--max-concurrency", type=_arg(options.positive_int), default=1024)
    cap.add_argument("--endpoint", choices=("completions", "chat"), default=None)
    cap.add_argument("--output", type=_output_file, default="capacity.json")
    _add_load_args(cap)
    cap.set_defaults(run=_capacity)

    swp = commands.add_parser(
        "sweep", help="every concurrency at every input:output length pair: one JSON and a "
                      "Pareto plot of per-user speed against throughput")
    _add_server_args(swp, "--api-url", "server root or the guide's endpoint URL")
    swp.add_argument("--concurrency", type=_arg(_positive_ints), default=[1, 4, 16],
                     help="comma-separated concurrencies (default 1,4,16)")
    swp.add_argument("--lengths", type=_arg(_shapes), default="1024:256",
                     help="comma-separated INPUT:OUTPUT token pairs (default 1024:256)")
    swp.add_argument("--requests-per-stream", type=_arg(options.positive_int), default=4,
                     help="measured requests per point = this x its concurrency")
    swp.add_argument("--min-requests", type=_arg(options.positive_int), default=10,
                     help="measured requests per point at least")
    swp.add_argument("--slo", type=_arg(_parse_slo), default=None,
                     help="objectives for goodput, e.g. ttft_ms=100,tpot_ms=20")
    swp.add_argument("--endpoint", choices=("completions", "chat"), default=None)
    swp.add_argument("--output", type=_output_file, default="sweep.json",
                     help="the sweep's JSON; the plot goes beside it (.png), each point's "
                          "vllm-bench JSON in a directory of the same name")
    _add_load_args(swp)
    swp.set_defaults(run=_sweep)

    mt = commands.add_parser(
        "multiturn", help="conversations that extend turn by turn: prefix-cache hit rate and "
                          "TTFT with the shared prefix against the same lengths without")
    _add_server_args(mt, "--api-url", "server root or the guide's endpoint URL")
    mt.add_argument("--conversations", type=_arg(options.positive_int), default=8)
    mt.add_argument("--turns", type=_arg(_at_least_two), default=4,
                    help="user turns per conversation (at least 2)")
    mt.add_argument("--concurrency", type=_arg(options.positive_int), default=4,
                    help="conversations in flight at once")
    mt.add_argument("--user-words", type=_arg(options.positive_int), default=150,
                    help="pseudo-words per user message")
    mt.add_argument("--max-tokens", type=_arg(options.positive_int), default=64,
                    help="output tokens per turn at most")
    mt.add_argument("--output", type=_output_file, default="multiturn.json")
    mt.set_defaults(run=_multiturn)

    verify = commands.add_parser(
        "verify-precision", help="the guide's verify_precision.py: compare with a reference")
    _add_server_args(verify, "--npu-url", "server under test")
    ref = verify.add_mutually_exclusive_group(required=True)
    ref.add_argument("--gpu-url", type=_server_url,
                     help="live reference server (e.g. the GPU baseline)")
    ref.add_argument("--baseline", type=_readable_file, help="baseline file recorded earlier")
    ref.add_argument("--record", type=_output_file,
                     help="record --npu-url as a baseline file instead")
    verify.add_argument("--test-prompts", type=_readable_file, default=None,
                        help="prompt set JSON (default: the shipped 57 EN/ZH prompts)")
    verify.add_argument("--output", type=_output_file, default="precision_report.json")
    verify.add_argument("--max-tokens", type=_arg(options.positive_int),
                        default=default("precision_max_tokens"))
    verify.add_argument("--cpu-reference", type=_readable_file, default=None,
                        help="a CPU FP32 baseline (record-reference) shown beside the gate")
    verify.add_argument("--pooling-url", type=_server_url, default=None,
                        help="the server under test's pooling twin (its hidden states)")
    verify.add_argument("--gpu-pooling-url", type=_server_url, default=None,
                        help="the reference server's pooling twin (with --gpu-url)")
    verify.add_argument("--perplexity-corpus", default=None, metavar="FILE",
                        help="harmony conversations for perplexity, or 'canary' (default: the "
                             "model's built-in corpus)")
    verify.add_argument("--checkpoint", type=_readable_dir, default=None,
                        help="checkpoint directory for the checkpoint probe (--hidden-device)")
    verify.add_argument("--endpoint", choices=options.PRECISION_ENDPOINTS,
                        default=default("precision_endpoint"),
                        help="completions: token ids, identical inputs (default); chat: the "
                             "servers render the prompts, which may differ by host and date")
    verify.add_argument("--hidden-device", choices=options.HIDDEN_DEVICES,
                        default=default("hidden_device"),
                        help="also run the checkpoint probe of this device's torch kernels "
                             "(reported apart, never the guide's criterion)")
    verify.add_argument("--hidden-dtype", choices=options.HIDDEN_DTYPES,
                        default=default("hidden_dtype"))
    verify.add_argument("--profile", default=DEFAULT_PROFILE)
    verify.add_argument("--thresholds", type=_readable_file, default=None)
    verify.set_defaults(run=_verify_precision)

    refrec = commands.add_parser(
        "record-reference", help="the guide's CPU FP32 reference: a baseline file computed by "
        "transformers in float32 on this host (no server)")
    refrec.add_argument("--checkpoint", type=_readable_dir, required=True,
                        help="the checkpoint directory (transformers format)")
    refrec.add_argument("--model", required=True,
                        help="the served model name the judged server will report")
    refrec.add_argument("--output", type=_output_file, default="reference-fp32.json.gz")
    refrec.add_argument("--test-prompts", type=_readable_file, default=None,
                        help="prompt set JSON (default: the shipped 57 EN/ZH prompts)")
    refrec.add_argument("--max-tokens", type=_arg(options.positive_int),
                        default=default("precision_max_tokens"))
    refrec.add_argument("--perplexity-corpus", default=None, metavar="FILE",
                        help="harmony conversations for perplexity, or 'canary' (default: the "
                             "model's built-in corpus)")
    refrec.set_defaults(run=_record_reference)

    long_context = commands.add_parser(
        "long-context", help="the guide's test_long_context.py: needle in a haystack grid")
    _add_server_args(long_context, "--api-url", "server root or its /v1/chat/completions URL")
    long_context.add_argument("--max-context-len", type=_arg(options.positive_int), default=None,
                      help="largest context; the grid's lengths derive from it (default: the "
                           "profile's long_context.context_length, 131072 for the guide)")
    long_context.add_argument("--lengths", type=_arg(options.int_list), default=None,
                              help="comma-separated lengths instead")
    long_context.add_argument("--depths", type=_arg(options.int_list),
                              default=default("niah_depths"))
    long_context.add_argument("--needle", default=long_context_cases.GUIDE_NEEDLE)
    long_context.add_argument("--question", default=long_context_cases.GUIDE_QUESTION)
    long_context.add_argument("--variants", nargs="*", default=None,
                      choices=tuple(long_context_cases.VARIANT_DEPTH),
                      help="variants run at every length besides the guide's needle (default: "
                           "the profile's long_context.variants; give none for the needle only)")
    long_context.add_argument("--language", choices=haystack_languages,
                              default=default("niah_language"))
    long_context.add_argument("--max-tokens", type=_arg(options.positive_int),
                              default=default("niah_max_tokens"),
                      help="tokens reserved for the answer (analysis and final)")
    long_context.add_argument("--reasoning-effort", choices=options.REASONING_EFFORTS,
                              default=default("niah_reasoning_effort"))
    long_context.add_argument("--output", type=_output_file, default="long_context_report.json")
    long_context.add_argument("--profile", default=DEFAULT_PROFILE)
    long_context.add_argument("--thresholds", type=_readable_file, default=None)
    long_context.set_defaults(run=_long_context)

    caps = commands.add_parser(
        "capabilities", help="count what a served gpt-oss model can do (the canary's checks)")
    _add_server_args(caps, "--api-url", "server root or its /v1/chat/completions URL")
    caps.add_argument("--checkpoint", type=_readable_dir, default=None,
                      help="checkpoint for the float32 greedy comparison (default: the embedded "
                      "canary when it is the served model; otherwise skipped)")
    caps.add_argument("--lengths", type=_arg(options.int_list), default=None,
                      help="needle lengths (default 1K..128K)")
    caps.add_argument("--depths", type=_arg(options.int_list), default=None,
                      help="needle depths (default 0,25,50,75,100)")
    caps.add_argument("--output", type=_output_file, default="capabilities.json")
    caps.set_defaults(run=_capabilities)

    rep = commands.add_parser(
        "report", help="write RESULTS_DIR/report.html and report.md: the guide's tables, "
                       "verdicts, plots and evidence")
    rep.add_argument("results_dir", type=_readable_dir, metavar="RESULTS_DIR", nargs="?")
    rep.add_argument("--compare", type=_readable_dir, nargs=2, metavar=("RUN_A", "RUN_B"),
                     help="two results directories side by side: figures, deltas, and the "
                          "verdicts that changed")
    rep.add_argument("--output", type=_output_file, default="compare.md",
                     help="with --compare: where the comparison goes (+ .html)")
    rep.set_defaults(run=_report)

    check = commands.add_parser(
        "selfcheck", help="prove each criterion can fail: the suites against the server as it "
                          "is, then behind each fault that should flip them (about 25 minutes on "
                          "2 cores; --quick about 9)",
        description="Runs `pytest -m selfcheck`. The server is the embedded default unless "
                    "given after `--` like any plugin option: `ascend-oss selfcheck -- "
                    "--base-url http://127.0.0.1:8000 --baseline baseline.json`.")
    check.add_argument("--tests", type=_readable_dir, default=None,
                       help="the acceptance suite (default: tests/ of this checkout)")
    check.add_argument("--results-dir", default=str(default("results_dir")),
                       help="where the runs and selfcheck/selfcheck.md go")
    check.add_argument("--quick", action="store_true",
                       help="the proxy faults only: no server of its own per fault (about 9 "
                            "minutes instead of 13 on 2 cores); the matrix names what it left "
                            "out")
    check.add_argument("pytest_args", nargs=argparse.REMAINDER,
                       help="after --: plugin and pytest options (--base-url, --server-cmd, "
                            "--baseline, --profile, -k ...)")
    check.set_defaults(run=_selfcheck)

    vocab = commands.add_parser(
        "vocab", help="write a verified o200k_base.tiktoken for TIKTOKEN_ENCODINGS_BASE, offline"
    )
    vocab.add_argument("directory")
    vocab.set_defaults(run=_vocab)

    conv = commands.add_parser(
        "convert-bf16", help="the hub's MXFP4 gpt-oss checkpoint to BF16, tensor by tensor "
        "(vllm-ascend cannot load MXFP4); run on any host with torch and transformers")
    conv.add_argument("source", type=_readable_dir, help="the MXFP4 checkpoint directory")
    conv.add_argument("destination", help="a new directory for the BF16 checkpoint")
    conv.set_defaults(run=_convert_bf16)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.prog = f"{parser.prog} {args.command}"  # for usage errors found after parsing
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

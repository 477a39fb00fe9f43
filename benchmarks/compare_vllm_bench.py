"""Our load generator and `vllm bench serve`, side by side in one run against the embedded server.

Same server, same prompt and output lengths, same concurrency and request count, alternating
tools per level so drift on a noisy box hits both. Prints the ratio of our median TTFT and TPOT
to vLLM's. Usage: .venv/bin/python benchmarks/compare_vllm_bench.py [--levels 1,4,16]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_ascend_oss.embedded.model import model_dir
from pytest_ascend_oss.embedded.serve import embedded_command
from pytest_ascend_oss.server.launcher import launch
from pytest_ascend_oss.suites.performance import bench as performance

VLLM_BENCH = ("import sys, argparse; from vllm.benchmarks import serve; "
              "p = argparse.ArgumentParser(); serve.add_cli_args(p); "
              "serve.main(p.parse_args(sys.argv[1:]))")


def vllm_bench(base_url: str, model: str, c: int, n: int, prompt: int, output: int,
               out_dir: Path) -> dict:
    name = f"vllm-c{c}.json"
    argv = [sys.executable, "-c", VLLM_BENCH, "--backend", "openai", "--base-url", base_url,
            "--endpoint", "/v1/completions", "--model", model, "--tokenizer", str(model_dir()),
            "--dataset-name", "random", "--random-input-len", str(prompt),
            "--random-output-len", str(output), "--ignore-eos", "--num-prompts", str(n),
            "--max-concurrency", str(c), "--num-warmups", str(c), "--save-result",
            "--result-dir", str(out_dir), "--result-filename", name,
            "--percentile-metrics", "ttft,tpot,itl,e2el",
            # vLLM's benchmark samples at temperature 1 unless told; ours is greedy. Sampling
            # over a 201,088-row vocab per token doubles TPOT of the tiny model on 2 cores.
            "--temperature", "0"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads((out_dir / name).read_text())
    result["client_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument("--requests-per-level", type=int, default=20)
    parser.add_argument("--prompt-tokens", type=int, default=1024)
    parser.add_argument("--output-tokens", type=int, default=64)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="compare-"))
    argv, env = embedded_command(log=lambda m: None)
    server, endpoint = launch(argv, work, 600, env=env, progress=lambda m: None)
    try:
        print(f"embedded server ready in {endpoint.startup_s:.0f} s; prompt {args.prompt_tokens}, "
              f"output {args.output_tokens} tokens, completions endpoint, ignore_eos")
        print("| c | n | ours TTFT | vllm TTFT | ratio | ours TPOT | vllm TPOT | ratio "
              "| ours tok/s | vllm tok/s | ours client CPU s | vllm client CPU s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for c in (int(x) for x in args.levels.split(",")):
            n = args.requests_per_level * c
            theirs = vllm_bench(endpoint.base_url, endpoint.model, c, n, args.prompt_tokens,
                                args.output_tokens, work)
            cpu0 = time.process_time()
            ours = performance.measure_level(endpoint.base_url, endpoint.model, c, n,
                                             args.prompt_tokens, args.output_tokens,
                                             progress=lambda m: None).metrics
            ours["client_cpu_s"] = time.process_time() - cpu0
            t_ours, t_vllm = ours["ttft_ms"]["median"], theirs["median_ttft_ms"]
            p_ours, p_vllm = ours["tpot_ms"]["median"], theirs["median_tpot_ms"]
            print(f"| {c} | {n} | {t_ours:.1f} | {t_vllm:.1f} | {t_ours / t_vllm:.3f} "
                  f"| {p_ours:.2f} | {p_vllm:.2f} | {p_ours / p_vllm:.3f} "
                  f"| {ours['output_throughput']:.0f} | {theirs['output_throughput']:.0f} "
                  f"| {ours['client_cpu_s']:.1f} | {theirs['client_cpu_s']:.1f} |",
                  flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

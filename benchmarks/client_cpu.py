"""Client CPU per streamed event: our load generator and `vllm bench serve`, side by side.

Both load the same synthetic streaming server (testing/fakes/synthetic_stream.py) in one run,
closed loop at each concurrency, 64 output tokens per request (27 SSE data events: the role
chunk, 24 token events, the final usage, [DONE]). Each client runs as a child process that
reads its own CPU time (all threads) from after its imports to the end of its run; each is run
at two request counts (2c, and 2c plus enough requests for --events more events) and the CPU
difference divided by the event difference, so tokenizer loading, dataset start-up and
connection set-up cancel out. vLLM's per-request dataset work (random token ids, decoded to
text) stays in its figure, as the issue that asked for this comparison counted it.

(A first version read each child's CPU from getrusage after it exited: vLLM's imports alone take
13-16 s of CPU and vary by seconds between runs, more than the load itself, and the differences
came out anywhere from -416 to 242 µs per event.)

The server shares the 2 cores: its token interval grows with the concurrency (``c / 4`` ms) so
that it sends about 1,500 events per second at every level and stays on time.

Usage: .venv/bin/python benchmarks/client_cpu.py [--levels 16,64,256] [--events 40000]
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

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_TOKENS = 64
EVENTS_PER_REQUEST = 27  # role chunk + 24 token events (1,3,2,5,1,4 x 4) + usage + [DONE]
VLLM_BENCH = ("import sys, argparse, time; from vllm.benchmarks import serve; "
              "p = argparse.ArgumentParser(); serve.add_cli_args(p); "
              "a = p.parse_args(sys.argv[1:]); t = time.process_time(); serve.main(a); "
              "print('CPU', time.process_time() - t)")


def ours_child(url: str, concurrency: int, requests: int, workers: int) -> None:
    """Run our load generator (the child's whole job) and print its request outcomes."""
    from pytest_ascend_oss.load.run import run
    from pytest_ascend_oss.load.workload import PreparedRequest

    body = {"model": "synthetic", "prompt": [1, 2, 3], "max_tokens": OUTPUT_TOKENS}
    load = [PreparedRequest("/v1/completions", body, 3, OUTPUT_TOKENS)] * requests
    start = time.process_time()
    result = run(url, load, concurrency, warmup=0, workers=workers, progress=lambda m: None)
    cpu = time.process_time() - start
    if workers > 1:  # the load processes' CPU, collected by the parent when it reaped them
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu += usage.ru_utime + usage.ru_stime
    print(json.dumps({"ok": sum(r.ok for r in result.records), "n": len(result.records),
                      "cpu": cpu}))


def cpu_line(out: str) -> str:
    return out.strip().splitlines()[-1]


def ours(url: str, c: int, n: int, workers: int) -> float:
    done = subprocess.run([sys.executable, __file__, "--ours-child", url, str(c), str(n),
                           str(workers)], check=True, capture_output=True, text=True)
    outcome = json.loads(cpu_line(done.stdout))
    if outcome["ok"] != n:
        raise SystemExit(f"ours: {n - outcome['ok']} of {n} requests failed at c={c}")
    return outcome["cpu"]


def theirs(url: str, c: int, n: int, work: Path) -> float:
    from pytest_ascend_oss.embedded.model import model_dir

    name = f"vllm-c{c}-n{n}.json"
    done = subprocess.run([
        sys.executable, "-c", VLLM_BENCH, "--backend", "openai", "--base-url", url,
        "--endpoint", "/v1/completions", "--model", "synthetic", "--tokenizer", str(model_dir()),
        "--dataset-name", "random", "--random-input-len", "16", "--random-output-len",
        str(OUTPUT_TOKENS), "--ignore-eos", "--num-prompts", str(n), "--max-concurrency",
        str(c), "--num-warmups", "0", "--disable-tqdm", "--temperature", "0", "--save-result",
        "--result-dir", str(work), "--result-filename", name],
        check=True, capture_output=True, text=True)
    result = json.loads((work / name).read_text())
    if result["completed"] != n:
        raise SystemExit(f"vllm bench: {n - result['completed']} of {n} failed at c={c}")
    return float(cpu_line(done.stdout).split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="16,64,256")
    parser.add_argument("--events", type=int, default=40_000,
                        help="events between the two runs of each client (more: less noise)")
    parser.add_argument("--workers", type=int, default=1, help="our load processes")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "testing"))
    from fakes import synthetic_stream

    work = Path(tempfile.mkdtemp(prefix="client-cpu-"))
    print(f"synthetic server, {OUTPUT_TOKENS} tokens per request = {EVENTS_PER_REQUEST} events; "
          f"CPU difference over {args.events} more events; ours with {args.workers} "
          "worker process(es)")
    print("| c | token interval ms | ours µs/event | vllm bench µs/event | ours / theirs |")
    print("|---|---|---|---|---|")
    for c in (int(x) for x in args.levels.split(",")):
        with synthetic_stream.serving(50, c / 4) as url:
            low = 2 * c
            high = low + c * -(-args.events // (c * EVENTS_PER_REQUEST))  # whole waves
            events = (high - low) * EVENTS_PER_REQUEST
            # Alternate the tools so that drift on a noisy box hits both alike.
            mine = -ours(url, c, low, args.workers)
            their = -theirs(url, c, low, work)
            mine += ours(url, c, high, args.workers)
            their += theirs(url, c, high, work)
            print(f"| {c} | {c / 4:g} | {mine / events * 1e6:.0f} | {their / events * 1e6:.0f} "
                  f"| {mine / their:.2f} |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--ours-child":
        ours_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()

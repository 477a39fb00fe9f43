"""The bad-input matrix: every input a user can get wrong, run as the user would (a real
``ascend-oss`` or ``pytest`` process), each asserted for its exit code, time to fail, one clear
line that names the problem, no traceback, no process left behind and the API key nowhere:
not in stdout, stderr, junit.xml or results.json.

Exit codes: 4 a usage error (found before anything starts), 1 the server is not usable.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import psutil
import pytest
from pytest_output import before_recap

from conftest import http_server

ROOT = Path(__file__).resolve().parents[2]
SECRET = "S3CRET-abc123"
CLI = [sys.executable, "-m", "pytest_ascend_oss.cli"]
PYTEST = [sys.executable, "-m", "pytest", str(ROOT / "tests"), "-p", "no:cacheprovider",
          "--rootdir", str(ROOT), "--tb=long", "-l"]  # the most talkative tracebacks


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # "{tmp}", "{html}" and "{refused}" are filled in per run
    rc: int
    message: str  # a regular expression the one error line must match
    max_s: float = 10.0
    env: tuple[tuple[str, str], ...] = ()


def cli(id, *args, rc=4, message, max_s=10.0):
    return Case(id, ("cli", *args), rc, message, max_s)


def plug(id, *args, rc=4, message, max_s=15.0, env=None):
    return Case(id, ("pytest", *args), rc, message, max_s, tuple((env or {}).items()))


REFUSED = "http://127.0.0.1:{refused}"
CASES = [
    # ascend-oss benchmark
    cli("bench-concurrency-negative", "benchmark", "--api-url", REFUSED, "--concurrency", "-2",
        message=r"--concurrency: '-2': must be a positive integer"),
    cli("bench-concurrency-zero", "benchmark", "--api-url", REFUSED, "--concurrency", "0",
        message=r"--concurrency: '0': must be a positive integer"),
    cli("bench-num-requests-zero", "benchmark", "--api-url", REFUSED, "--num-requests", "0",
        message=r"--num-requests: '0': must be a positive"),
    cli("bench-max-tokens-negative", "benchmark", "--api-url", REFUSED, "--max-tokens", "-1",
        message=r"--max-tokens: '-1'"),
    cli("bench-warmup-negative", "benchmark", "--api-url", REFUSED, "--warmup", "-1",
        message=r"--warmup: '-1': must be 0 or more"),
    cli("bench-rate-negative", "benchmark", "--api-url", REFUSED, "--request-rate", "-1",
        message=r"--request-rate: '-1'"),
    cli("bench-prompt-tokens-text", "benchmark", "--api-url", REFUSED, "--prompt-tokens", "lots",
        message=r"--prompt-tokens: 'lots'"),
    cli("bench-url-no-scheme", "benchmark", "--api-url", "127.0.0.1:8000",
        message=r"--api-url: '127.0.0.1:8000': must start with http"),
    cli("bench-url-port-range", "benchmark", "--api-url", "http://127.0.0.1:99999",
        message=r"--api-url: .*no valid port"),
    cli("bench-output-under-a-file", "benchmark", "--api-url", REFUSED,
        "--output", "{tmp}/a-file/out.json", message=r"--output: .*is a file, not a directory"),
    cli("bench-unreachable", "benchmark", "--api-url", REFUSED, rc=1,
        message=r"nothing listens at http://127.0.0.1:\d+ \(connection refused\)"),
    cli("bench-not-vllm", "benchmark", "--api-url", "{html}", rc=1,
        message=r"answered HTML, not the OpenAI model list: is the URL the vLLM server's root"),
    cli("bench-workers-zero", "benchmark", "--api-url", REFUSED, "--workers", "0",
        message=r"--workers: '0': must be a positive integer"),
    cli("bench-tokenizer-missing", "benchmark", "--api-url", REFUSED, "--tokenizer",
        "{tmp}/no-such-dir", message=r"--tokenizer: .*no-such-dir' does not exist"),
    cli("bench-tokenizer-a-file", "benchmark", "--api-url", REFUSED, "--tokenizer",
        "{tmp}/a-file", message=r"--tokenizer: .*a-file' is not a directory"),
    cli("bench-slo-key", "benchmark", "--api-url", REFUSED, "--slo", "latency=5",
        message=r"--slo: .*expected KEY=MS with KEY one of ttft_ms, tpot_ms"),
    # ascend-oss sweep
    cli("sweep-lengths-no-pair", "sweep", "--api-url", REFUSED, "--lengths", "1024",
        message=r"--lengths: .*'1024': expected INPUT:OUTPUT tokens"),
    cli("sweep-lengths-one-output", "sweep", "--api-url", REFUSED, "--lengths", "1024:1",
        message=r"--lengths: .*output at least 2"),
    cli("sweep-lengths-repeat", "sweep", "--api-url", REFUSED, "--lengths", "64:8,64:8",
        message=r"--lengths: .*length pairs repeat"),
    cli("sweep-concurrency-zero", "sweep", "--api-url", REFUSED, "--concurrency", "1,0",
        message=r"--concurrency: '1,0': must be a positive integer"),
    cli("sweep-concurrency-repeat", "sweep", "--api-url", REFUSED, "--concurrency", "4,4",
        message=r"--concurrency: '4,4': .*expected distinct whole numbers"),
    cli("sweep-unreachable", "sweep", "--api-url", REFUSED, rc=1,
        message=r"nothing listens at http://127.0.0.1:\d+ \(connection refused\)"),
    # ascend-oss long-context
    cli("niah-lengths-empty", "long-context", "--api-url", REFUSED, "--lengths", "",
        message=r"--lengths: '': is empty"),
    cli("niah-lengths-text", "long-context", "--api-url", REFUSED, "--lengths", "abc",
        message=r"--lengths: 'abc': must be comma-separated integers"),
    cli("niah-depth-range", "long-context", "--api-url", REFUSED, "--depths", "150",
        message=r"--depths: \[150\] out of range"),
    cli("niah-max-tokens-zero", "long-context", "--api-url", REFUSED, "--max-tokens", "0",
        message=r"--max-tokens: '0'"),
    cli("niah-language", "long-context", "--api-url", REFUSED, "--language", "fr",
        message=r"--language: invalid choice: 'fr'"),
    cli("niah-effort", "long-context", "--api-url", REFUSED, "--reasoning-effort", "extreme",
        message=r"--reasoning-effort: invalid choice: 'extreme'"),
    cli("niah-thresholds-missing", "long-context", "--api-url", REFUSED,
        "--thresholds", "{tmp}/none.toml", message=r"--thresholds: .*none.toml' does not exist"),
    cli("niah-thresholds-directory", "long-context", "--api-url", REFUSED,
        "--thresholds", "{tmp}", message=r"--thresholds: .* is not a file \(a directory\)"),
    cli("niah-thresholds-binary", "long-context", "--api-url", REFUSED,
        "--thresholds", "{tmp}/binary.toml", message=r"binary.toml: not a thresholds file"),
    cli("niah-profile-unknown", "long-context", "--api-url", REFUSED, "--profile", "nope",
        message=r"no profile 'nope'; profiles in this file: atlas-800-a2, cpu-canary"),
    # ascend-oss verify-precision
    cli("verify-baseline-missing", "verify-precision", "--npu-url", REFUSED,
        "--baseline", "{tmp}/none.json", message=r"--baseline: .*none.json' does not exist"),
    cli("verify-baseline-not-one", "verify-precision", "--npu-url", REFUSED,
        "--baseline", "{tmp}/a-file", message=r"a-file: not a baseline file"),
    cli("verify-self-reference", "verify-precision", "--npu-url", REFUSED,
        "--gpu-url", REFUSED + "/v1", message=r"a server compared with itself always agrees"),
    cli("verify-prompts-not-json", "verify-precision", "--npu-url", REFUSED,
        "--record", "{tmp}/b.json", "--test-prompts", "{tmp}/a-file",
        message=r"a-file: not valid JSON"),
    cli("verify-prompts-shape", "verify-precision", "--npu-url", REFUSED,
        "--record", "{tmp}/b.json", "--test-prompts", "{tmp}/list.json",
        message=r"list.json: needs a non-empty list under \"prompts\""),
    cli("verify-prompt-message-shape", "verify-precision", "--npu-url", REFUSED,
        "--record", "{tmp}/b.json", "--test-prompts", "{tmp}/bad-message.json",
        message=r"prompts\[0\].messages\[0\] \(p1\): expected an object"),
    cli("verify-hidden-device", "verify-precision", "--npu-url", REFUSED,
        "--record", "{tmp}/b.json", "--hidden-device", "gpu",
        message=r"--hidden-device: invalid choice: 'gpu'"),
    cli("verify-record-under-a-file", "verify-precision", "--npu-url", REFUSED,
        "--record", "{tmp}/a-file/b.json", message=r"--record: .*is a file, not a directory"),
    cli("verify-no-reference", "verify-precision", "--npu-url", REFUSED,
        message=r"one of the arguments --gpu-url --baseline --record is required"),
    cli("verify-pooling-self", "verify-precision", "--npu-url", REFUSED, "--gpu-url",
        "http://127.0.0.1:9", "--pooling-url", "http://127.0.0.1:7", "--gpu-pooling-url",
        "http://127.0.0.1:7", message=r"hidden states compared with themselves always agree"),
    cli("verify-gpu-pooling-alone", "verify-precision", "--npu-url", REFUSED, "--baseline",
        "{tmp}/a-file", "--gpu-pooling-url", "http://127.0.0.1:7",
        message=r"--gpu-pooling-url is the pooling twin of --gpu-url; give both"),
    cli("verify-probe-without-checkpoint", "verify-precision", "--npu-url", REFUSED,
        "--record", "{tmp}/b.json", "--hidden-device", "cpu",
        message=r"--hidden-device runs the checkpoint probe, which needs --checkpoint DIR"),
    cli("verify-corpus-missing", "verify-precision", "--npu-url", REFUSED, "--record",
        "{tmp}/b.json", "--perplexity-corpus", "{tmp}/none.json",
        message=r"none.json: perplexity corpus not found"),
    # ascend-oss record-reference
    cli("reference-no-weights", "record-reference", "--checkpoint", "{tmp}", "--model", "m",
        message=r"no \*.safetensors weights"),
    cli("reference-no-checkpoint", "record-reference", "--model", "m",
        message=r"the following arguments are required: --checkpoint"),
    # ascend-oss serve-embedded
    cli("serve-port", "serve-embedded", "--port", "-5", message=r"--port: '-5': must be a port"),
    cli("serve-max-model-len", "serve-embedded", "--max-model-len", "0",
        message=r"--max-model-len: '0'"),
    cli("serve-perturb", "serve-embedded", "--perturb", "-1", message=r"--perturb: '-1'"),
    cli("serve-startup-timeout", "serve-embedded", "--startup-timeout", "0",
        message=r"--startup-timeout: '0'"),
    # pytest, the plugin's options
    plug("opt-language", "-m", "long_context", "--niah-language", "fr",
         message=r"--niah-language 'fr' \(from the command line\): choose one of en, zh"),
    plug("opt-lengths-empty", "-m", "long_context", "--niah-lengths", "",
         message=r"--niah-lengths '' \(from the command line\): is empty"),
    plug("opt-depth-range", "-m", "long_context", "--niah-depths", "101",
         message=r"--niah-depths: \[101\] out of range"),
    plug("opt-effort", "--niah-reasoning-effort", "extreme",
         message=r"--niah-reasoning-effort 'extreme' .*choose one of low, medium, high"),
    plug("opt-endpoint", "--precision-endpoint", "foo",
         message=r"--precision-endpoint 'foo' .*choose one of completions, chat"),
    plug("opt-hidden-device", "--hidden-device", "gpu", message=r"--hidden-device 'gpu'"),
    plug("opt-corpus-missing", "--perplexity-corpus", "{tmp}/none.json",
         message=r"none.json: perplexity corpus not found"),
    plug("opt-pooling-self", "--pooling-url", "http://127.0.0.1:7", "--baseline-pooling-url",
         "http://127.0.0.1:7", message=r"hidden states compared with themselves always agree"),
    plug("opt-variant-self", "-m", "features", "--base-url", REFUSED, "--eager-url", REFUSED,
         message=r"--eager-url .*is the server under test: a variant compared with itself"),
    plug("opt-variant-url", "-m", "features", "--tp-url", "ftp://127.0.0.1:7",
         message=r"--tp-url 'ftp://127.0.0.1:7'"),
    plug("opt-lc-results-missing", "-m", "features", "--long-context-results",
         "{tmp}/none.json", message=r"--long-context-results .*none.json"),
    plug("opt-lc-results-shape", "-m", "features", "--long-context-results", "{tmp}/a-file",
         message=r"--long-context-results .*a-file: not a results.json of this plugin"),
    plug("opt-ctx-negative", "--ctx", "-5", message=r"--ctx '-5' .*must be a positive"),
    plug("opt-timeout-text", "--startup-timeout", "abc", message=r"--startup-timeout 'abc'"),
    plug("opt-ctx-from-env", env={"ASCEND_OSS_CTX": "0"},
         message=r"--ctx '0' \(from environment ASCEND_OSS_CTX\)"),
    plug("opt-url-port-text", "--base-url", "http://127.0.0.1:notaport",
         message=r"--base-url .*has no valid port"),
    plug("opt-url-port-range", "--base-url", "http://127.0.0.1:99999",
         message=r"--base-url .*has no valid port"),
    plug("opt-attach-and-launch", "--base-url", REFUSED, "--server-cmd", "vllm serve /m",
         message=r"exclude each other"),
    plug("opt-self-reference", "--base-url", REFUSED, "--baseline-url", REFUSED,
         message=r"a server compared with itself always agrees"),
    plug("opt-server-log-launched", "--server-log", "{tmp}/vllm.log",
         message=r"--server-log .*names an attached server's launch log, and no --base-url"),
    plug("opt-server-log-missing", "-m", "smoke", "--base-url", REFUSED, "--server-log",
         "{tmp}/vllm.log", message=r"--server-log '.*vllm.log' .*does not exist"),
    plug("cmd-not-on-path", "-m", "smoke", "--server-cmd", "vllmx serve /models/gpt-oss-20b",
         message=r"cannot run 'vllmx': not on PATH; activate the environment that has vLLM"),
    plug("cmd-empty", "-m", "smoke", "--server-cmd", "", message=r"--server-cmd '' .*is empty"),
    plug("cmd-quote", "-m", "smoke", "--server-cmd", "vllm serve '/models/x",
         message=r"--server-cmd .*cannot be split into arguments"),
    plug("results-dir-is-a-file", "-m", "smoke", "--results-dir", "{tmp}/a-file",
         message=r"--results-dir .*a-file.*is a file, not a directory"),
    plug("thresholds-directory", "--thresholds", "{tmp}",
         message=r"--thresholds .* is not a file \(a directory\)"),
    plug("thresholds-binary", "--thresholds", "{tmp}/binary.toml",
         message=r"binary.toml: not a thresholds file \(not UTF-8"),
    plug("thresholds-profile", "--profile", "nope", message=r"no profile 'nope'"),
    plug("prompts-shape", "--prompts", "{tmp}/list.json",
         message=r"list.json: needs a non-empty list under \"prompts\""),
    plug("baseline-missing", "--baseline", "{tmp}/none.json",
         message=r"--baseline .*none.json' \(from the command line\) does not exist"),
    plug("baseline-not-one", "--baseline", "{tmp}/a-file", message=r"not a baseline file"),
    plug("checkpoint-not-a-dir", "--checkpoint", "{tmp}/a-file",
         message=r"--checkpoint .* is not a directory"),
    # pytest against servers that are not there or not vLLM: one story, rc 1, in seconds
    plug("attach-refused", "-m", "smoke", "--base-url", REFUSED, rc=1,
         message=r"server unavailable \(attach\): nothing listens at"),
    # the accuracy suite's files: refused before anything starts, naming file, line, field
    plug("accuracy-csv-empty-choice", "-m", "accuracy", "--accuracy-questions", "{tmp}/gpqa.csv",
         message=r"gpqa\.csv:3: field 'Incorrect Answer 2' is empty"),
    plug("accuracy-jsonl-no-answer", "-m", "accuracy", "--accuracy-questions",
         "{tmp}/aime.jsonl", message=r"aime\.jsonl:2: field 'answer' must be an integer"),
    plug("accuracy-format", "-m", "accuracy", "--accuracy-questions", "{tmp}/a-file",
         message=r"a-file: unknown question format ''; give a \.csv"),
    plug("accuracy-benchmark", "-m", "accuracy", "--accuracy-benchmark", "mmlu",
         "--base-url", REFUSED, message=r"--accuracy-benchmark 'mmlu': no published figures "
         r"for it in .*\[atlas-800-a2.accuracy\] published; benchmarks there: gpqa_diamond"),
    plug("accuracy-baseline-other-set", "-m", "accuracy", "--accuracy-baseline",
         "{tmp}/aime.jsonl", message=r"--accuracy-baseline .*aime\.jsonl:1: not an answer of "
         r"this suite's answers\.jsonl"),
    plug("accuracy-repeats-zero", "-m", "accuracy", "--accuracy-repeats", "0",
         message=r"--accuracy-repeats.*'0'.*positive"),
    plug("attach-not-vllm", "-m", "smoke", "--base-url", "{html}", rc=1,
         message=r"answered HTML, not the OpenAI model list"),
]


def test_the_matrix_is_large_and_ids_are_unique():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


class _HTMLHandler(BaseHTTPRequestHandler):
    """A web server that is not vLLM: every path answers 200 with an HTML page."""

    def do_GET(self):
        body = b"<!doctype html><title>router login</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def html_url():
    with http_server(_HTMLHandler) as url:
        yield url


@pytest.fixture(scope="module")
def refused_port():
    import socket

    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _files(tmp: Path) -> None:
    (tmp / "a-file").write_text("not json, not a directory\n")
    (tmp / "binary.toml").write_bytes(b"\xff\xfe\x00bad")
    (tmp / "list.json").write_text("[1, 2]")
    (tmp / "bad-message.json").write_text('{"prompts": [{"id": "p1", "messages": ["hi"]}]}')
    (tmp / "gpqa.csv").write_text(
        "Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3\n"
        "Which is heavier?,lead,air,foam,cork\n"
        "Which is lighter?,air,lead,,iron\n")
    (tmp / "aime.jsonl").write_text('{"question": "Find 6 x 7.", "answer": 42}\n'
                                    '{"question": "Find 2 + 2."}\n')


def _session_processes(sid: int) -> list[psutil.Process]:
    left = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc)
    return left


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_error(case, tmp_path, html_url, refused_port, monkeypatch):
    _files(tmp_path)
    fill = {"tmp": str(tmp_path), "html": html_url, "refused": str(refused_port)}
    kind, *args = case.argv
    args = [a.format(**fill) for a in args]
    results = tmp_path / "results"
    if kind == "cli":
        argv = [*CLI, *args]
    else:
        argv = [*PYTEST, *args, "--api-key", SECRET, "--junitxml", str(results / "junit.xml")]
        if "--results-dir" not in args:
            argv += ["--results-dir", str(results)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASCEND_OSS_")}
    env.update({"ASCEND_OSS_API_KEY": SECRET, **dict(case.env)})
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=case.max_s + 30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    elapsed = time.monotonic() - t0
    text = out + err
    assert proc.returncode == case.rc, f"exit {proc.returncode}, not {case.rc}:\n{text[-3000:]}"
    assert elapsed < case.max_s, f"took {elapsed:.1f} s to fail"
    assert "Traceback" not in text and "INTERNALERROR" not in text, text[-3000:]
    matching = [ln for ln in text.splitlines() if re.search(case.message, ln)]
    assert matching, f"no line matches {case.message!r}:\n{text[-3000:]}"
    if case.rc == 4:  # a usage error is one line (pytest adds nothing; argparse nothing)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{err}"
    else:  # one story: told once; each later test points at it in one line
        told = [ln for ln in (before_recap(out) + err).splitlines() if re.search(case.message, ln)]
        assert len(told) == 1, text[-3000:]
    assert not _session_processes(proc.pid), "a process of the run is still alive"
    written = [p.read_text(errors="replace") for p in results.glob("*") if p.is_file()]
    for where, content in [("stdout", out), ("stderr", err), *zip(
            [p.name for p in results.glob("*") if p.is_file()], written)]:
        assert SECRET not in content, f"the API key appears in {where}"

"""The load split among processes: request order kept, every process reaped, a lost process
an error (never a short result), and the default count."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys

import pytest
from fakes import synthetic_stream

from pytest_ascend_oss.load import workers
from pytest_ascend_oss.load.run import run
from pytest_ascend_oss.load.workload import PreparedRequest


@pytest.fixture(scope="module")
def synthetic_url():
    with synthetic_stream.serving(20, 2) as url:
        yield url


def test_records_come_back_in_request_order_from_every_process(synthetic_url):
    # Each request asks its own length: the merged records must line up with the requests.
    load = [PreparedRequest("/v1/completions", {"model": "s", "prompt": [1], "max_tokens": n},
                            1, n) for n in range(4, 4 + 23)]
    lines: list[str] = []
    result = run(synthetic_url, load, 6, warmup=3, workers=3, progress=lines.append)
    assert result.workers == 3
    assert [r.output_tokens for r in result.warmup_records] == [4, 5, 6]
    assert [r.output_tokens for r in result.records] == list(range(7, 27))
    assert all(r.ok for r in result.records)
    # One clock: every request starts after the common phase start and the run's duration
    # covers the last one to finish.
    first = min(r.start_ns for r in result.records)
    last = max(r.last_token_ns for r in result.records)
    assert 0 < (last - first) / 1e9 <= result.duration_s
    assert any("measured: 20/20 done" in line for line in lines)
    assert multiprocessing.active_children() == []  # every process reaped


def test_an_open_loop_splits_its_rate_among_processes(synthetic_url):
    load = [PreparedRequest("/v1/completions", {"model": "s", "prompt": [1], "max_tokens": 4},
                            1, 4)] * 20
    result = run(synthetic_url, load, 4, warmup=0, request_rate=200.0, workers=2,
                 progress=lambda m: None)
    assert len(result.records) == 20 and all(r.ok for r in result.records)
    assert result.request_rate == 200.0


def test_more_processes_than_streams_are_not_started(synthetic_url):
    load = [PreparedRequest("/v1/completions", {"model": "s", "prompt": [1], "max_tokens": 4},
                            1, 4)] * 4
    assert run(synthetic_url, load, 1, warmup=1, workers=4, progress=lambda m: None).workers == 1


class Dead:
    exitcode = -9

    def is_alive(self) -> bool:
        return False


class Silence:
    def __init__(self, *messages):
        self.messages = list(messages)

    def get(self, timeout):
        import queue

        if self.messages:
            return self.messages.pop(0)
        raise queue.Empty


def test_a_process_that_dies_ends_the_run_with_how_it_exited():
    with pytest.raises(workers.LoadProcessError, match="load process 0 exited with code -9"):
        workers._collect([Dead()], Silence(), "done", lambda m: None)


def test_a_process_that_raises_ends_the_run_with_its_traceback():
    failing = Silence(("error", 1, "Traceback ...\nValueError: boom"))
    with pytest.raises(workers.LoadProcessError, match=r"(?s)load process 1 failed:.*boom"):
        workers._collect([Dead(), Dead()], failing, "warm", lambda m: None)


@pytest.mark.parametrize("concurrency,cores,expected", [
    (1, 8, 1), (16, 8, 1), (64, 8, 1), (65, 8, 2), (256, 8, 4), (1024, 8, 8), (1024, 2, 2)])
def test_default_is_one_process_per_64_streams_at_most_one_per_core(concurrency, cores, expected):
    assert workers.default_workers(concurrency, cores) == expected


def test_shares_differ_by_at_most_one_and_sum_to_the_whole():
    assert workers.shares(10, 3) == [4, 3, 3]
    assert workers.shares(2, 2) == [1, 1]


def test_a_load_process_leaves_when_its_parent_is_killed(tmp_path):
    """SIGKILL of the parent: nothing can stop the load processes but themselves."""
    import os
    import signal
    import time

    import psutil

    script = tmp_path / "parent.py"
    script.write_text(
        "import multiprocessing, os, sys, time\n"
        "from pytest_ascend_oss.load import workers\n"
        "if __name__ == '__main__':\n"
        "    ctx = multiprocessing.get_context('spawn')\n"
        "    messages, go, start = ctx.Queue(), ctx.Event(), ctx.Value('q', 0)\n"
        "    p = ctx.Process(target=workers._process_main, args=(os.getpid(), 0, 'http://127.0.0.1:9',\n"
        "        None, [], 0, 1, None, 0, messages, go, start), daemon=True)\n"
        "    p.start()\n"
        "    print(p.pid, flush=True)\n"
        "    time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert psutil.pid_exists(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(child).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the load process outlived its killed parent by 10 s")

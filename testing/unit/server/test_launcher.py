"""The launcher against the fake `vllm` (testing/fakes/fake_vllm.py): failures, ladder, teardown."""

from __future__ import annotations

import os
import time

import pytest

from conftest import FAKE_CMD, alive, pids_in
from pytest_ascend_oss.server.argv import split_command
from pytest_ascend_oss.server.launcher import StartupError, launch


def run_launch(tmp_path, mode, timeout=30.0, children=0):
    env = {**os.environ, "FAKE_MODE": mode, "FAKE_CHILDREN": str(children)}
    messages: list[str] = []
    return launch(split_command(FAKE_CMD), tmp_path / "results", timeout, env=env,
                  progress=messages.append)


@pytest.mark.parametrize("line, remedy", [
    ("RuntimeError: NPU out of memory. Tried to allocate 2.00 GiB", "--max-num-seqs"),
    ("OSError: [Errno 98] Address already in use", "choose another --port"),
    ("HarmonyError: the env var TIKTOKEN_ENCODINGS_BASE is not set, or invalid",
     "TIKTOKEN_ENCODINGS_BASE"),
])
def test_fatal_line_in_a_live_process_fails_fast_with_remedy(tmp_path, fake_env, line, remedy):
    t0 = time.monotonic()
    with pytest.raises(StartupError) as err:
        run_launch(tmp_path, f"print:{line}")
    elapsed = time.monotonic() - t0
    message = str(err.value)
    assert line in message and remedy in message and "last lines of the server log" in message
    assert elapsed < 15, f"took {elapsed:.1f} s"
    assert not any(alive(pid) for pid in pids_in(fake_env)), "a failed rung left its process"


def test_ladder_retries_then_adds_enforce_eager(tmp_path, fake_env):
    server, endpoint = run_launch(tmp_path, "eager-only")
    try:
        assert endpoint.rung == "enforce-eager"
        assert "--enforce-eager" in endpoint.argv
        assert [a["rung"] for a in endpoint.attempts] == ["as-given", "retry", "enforce-eager"]
        assert "RopeOperation setup failed" in endpoint.attempts[0]["error"]
    finally:
        server.stop()


def test_configuration_errors_do_not_climb_the_ladder(tmp_path, fake_env):
    with pytest.raises(StartupError, match="port in use") as err:
        run_launch(tmp_path, "exit:OSError: [Errno 98] Address already in use")
    assert "ladder tried" not in str(err.value)
    assert len(pids_in(fake_env)) == 1  # one start only


def test_exit_without_known_signature_reports_code_and_tail(tmp_path, fake_env):
    with pytest.raises(StartupError) as err:
        run_launch(tmp_path, "exit:something odd happened")
    message = str(err.value)
    assert "exited with code 1" in message and "something odd happened" in message
    assert "ladder tried: as-given" in message and "enforce-eager" in message


def test_engine_dead_on_first_request_is_not_ready(tmp_path, fake_env):
    with pytest.raises(StartupError, match="engine is dead"):
        run_launch(tmp_path, "dead-engine")


def test_timeout_names_the_option_to_raise(tmp_path, fake_env):
    t0 = time.monotonic()
    with pytest.raises(StartupError, match=r"(?s)not ready after 2 s.*--startup-timeout"):
        run_launch(tmp_path, "slow", timeout=2)
    assert time.monotonic() - t0 < 10  # a timeout does not climb the ladder


def test_stop_takes_down_children_and_grandchildren(tmp_path, fake_env):
    server, endpoint = run_launch(tmp_path, "serve", children=2)
    assert endpoint.rung == "as-given" and endpoint.startup_s is not None
    pids = pids_in(fake_env)
    assert len(pids) == 5 and all(alive(p) for p in pids)  # server, 2 children, 2 grandchildren
    server.stop()
    assert not [p for p in pids if alive(p)]


def test_embedded_engine_uses_every_core_of_a_small_box_unless_told_otherwise():
    from pytest_ascend_oss.embedded.serve import engine_environment

    small = engine_environment({}, cpus=[0, 1])
    assert small["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"  # vLLM would keep 1 of 2 cores idle
    assert small["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert "VLLM_CPU_NUM_OF_RESERVED_CPU" not in engine_environment({}, cpus=list(range(32)))
    mine = engine_environment({"VLLM_CPU_NUM_OF_RESERVED_CPU": "1",
                               "VLLM_CPU_KVCACHE_SPACE": "8"}, cpus=[0, 1])
    assert mine["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "1" and mine["VLLM_CPU_KVCACHE_SPACE"] == "8"
    assert "VLLM_CPU_OMP_THREADS_BIND" not in small


def test_embedded_ranks_get_their_share_of_the_cores():
    """vLLM CPU refuses two ranks on one NUMA node unless their threads are bound by hand."""
    from pytest_ascend_oss.embedded.serve import engine_environment

    assert engine_environment({}, cpus=[0, 1], ranks=2)["VLLM_CPU_OMP_THREADS_BIND"] == "0|1"
    assert engine_environment({}, cpus=[2, 3, 4, 5], ranks=2)["VLLM_CPU_OMP_THREADS_BIND"] \
        == "2,3|4,5"
    assert "VLLM_CPU_OMP_THREADS_BIND" not in engine_environment({}, cpus=[0], ranks=2)

import pytest

from pytest_ascend_oss.server.diagnose import find_fatal

FATAL_LINES = {
    "device out of memory": "RuntimeError: NPU out of memory. Tried to allocate 2.00 GiB",
    "CPU memory or KV cache too small": "ValueError: Available memory on node 0 (12.0 GiB) is "
                                        "less than desired CPU memory utilization 0.92",
    "RopeOperation setup failed": "RuntimeError: RopeOperation setup failed",
    "ACL graph capture error 507903": "RuntimeError: EZ9999: [PID:77] 507903 ACL Graph capture error",
    "harmony vocab download error": "HarmonyError: the env var TIKTOKEN_ENCODINGS_BASE is not set, "
                                    "or invalid",
    "MXFP4 unsupported": "ValueError: mxfp4 quantization is not supported on this device",
    "port in use": "OSError: [Errno 98] Address already in use",
    "Engine core initialization failed": "RuntimeError: Engine core initialization failed. "
                                         "See root cause above.",
    # Lines as vllm-ascend users reported them (threads cited in diagnose.py).
    "negative KV-cache budget": "INFO [worker.py] Available KV cache memory: -0.87 GiB",
    "graph capture out of NPU streams": "EE9999[PID: 1802934] (EE9999):  [SqCqManage]Alloc sq cq "
                                        "fail, stream_id=1984, retCode=0x7020023.",
    "aclop operator inside graph capture": "RuntimeError: Cannot run aclop operators during NPU "
                                           "graph capture. Current working aclop is Fill.",
    "harmony parse error": "openai_harmony.HarmonyError: Unexpected token 12606 while expecting "
                           "start token 200006",
    "ACL call failed": "[ERROR] 2026-01-16-11:51:23 (PID:415, Device:0, RankID:-1) ERR00100 PTA "
                       "call acl api failed",
}


@pytest.mark.parametrize("name", FATAL_LINES)
def test_each_known_failure_is_recognised(name):
    signature, line = find_fatal("INFO starting\n" + FATAL_LINES[name] + "\nINFO more\n")
    assert signature.name == name
    assert line == FATAL_LINES[name]
    assert signature.remedy


def test_specific_cause_wins_over_the_generic_engine_failure():
    log = FATAL_LINES["Engine core initialization failed"] + "\n" + FATAL_LINES["device out of memory"]
    assert find_fatal(log)[0].name == "device out of memory"


@pytest.mark.parametrize("line", [
    "INFO 11-25 [gpu_model_runner.py] Model loading took 0.1 GiB memory",
    "INFO Using MXFP4-free BF16 weights",
    "WARNING [kv_cache_utils.py] max_num_seqs lowered to avoid running out of KV cache blocks",
    "INFO Uvicorn running on http://127.0.0.1:8000",
])
def test_healthy_lines_are_not_fatal(line):
    assert find_fatal(line) is None


def test_oom_remedy_is_the_guides():
    signature, _ = find_fatal(FATAL_LINES["device out of memory"])
    for step in ("--max-model-len", "--max-num-seqs", "--gpu-memory-utilization 0.85",
                 "PYTORCH_NPU_ALLOC_CONF=expandable_segments:True"):
        assert step in signature.remedy


def test_capture_stream_exhaustion_wins_over_the_generic_acl_failure():
    """vllm-ascend prints ERR00100 and EE9999 around the specific line: the specific wins."""
    log = "\n".join([FATAL_LINES["ACL call failed"], "EE9999: Inner Error!",
                     FATAL_LINES["graph capture out of NPU streams"]])
    assert find_fatal(log)[0].name == "graph capture out of NPU streams"
    assert "ASCEND_LAUNCH_BLOCKING=1" in find_fatal(FATAL_LINES["ACL call failed"])[0].remedy


def test_a_negative_kv_budget_is_not_read_as_a_positive_one():
    assert find_fatal("INFO Available KV cache memory: 0.87 GiB") is None


def test_quoted_log_lines_and_tails_hide_keys():
    from pytest_ascend_oss.server.diagnose import tail

    log = ("INFO non-default args: {'model': '/m', 'api_key': ['S3CRET']}\n"
           "DEBUG header Authorization: Bearer S3CRET\n"
           "RuntimeError: NPU out of memory (--api-key S3CRET)")
    assert "S3CRET" not in tail(log) and "S3CRET" not in find_fatal(log)[1]
    assert "<hidden>" in tail(log)


def test_first_error_is_the_cause_not_its_consequences():
    from pytest_ascend_oss.server.diagnose import first_error

    prefix = "(Worker_TP0 pid=1) ERROR 11-27 03:59:13 [multiproc_executor.py:953]"
    log = (f"{prefix} WorkerProc failed to start.\n"
           f"{prefix}     assert a % b\n"
           f"{prefix} ZeroDivisionError: integer modulo by zero\n"
           "RuntimeError: Engine core initialization failed. See root cause above.\n")
    assert first_error(log) == "ZeroDivisionError: integer modulo by zero"
    bare = ("(APIServer pid=2) ERROR [async_llm.py:906] vllm.v1.engine.exceptions."
            "EngineDeadError: EngineCore encountered an issue.\n"
            "(Worker pid=3) ERROR 11-27 [multiproc_executor.py:1063]     raise NotImplementedError\n"
            "(Worker pid=3) ERROR 11-27 [multiproc_executor.py:1063] NotImplementedError\n")
    assert first_error(bare) == "NotImplementedError"
    assert first_error("INFO all good\n") is None

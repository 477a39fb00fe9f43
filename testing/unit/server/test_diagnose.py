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


# Log lines as the cited upstream threads show them (diagnose.py names each), with the
# diagnosis each must get and whether the fallback ladder may climb.
UPSTREAM_LINES = [
    # vllm_ascend/worker/worker.py:265-278 at v0.18.0rc1; vllm-ascend #8621, #7308
    (("(EngineCore pid=634) ValueError: Free memory on device (3.27/60.96 GiB) on startup is "
     "less than desired GPU memory utilization (0.9, 54.86 GiB). Decrease GPU memory "
     "utilization or reduce GPU memory used by other processes."),
     "card held by another process", False),
    # vllm-ascend #3479
    (("(EngineCore_DP0 pid=3132) ERROR 10-15 16:32:16 [core.py:708] EL0004: [PID: 3132] "
     "2025-10-15-16:32:16.417.528 Failed to allocate memory."), "ACL out of memory (EL0004)",
     True),
    # vllm-ascend #3263 (the extend info of an AI Core exception, error code 507015)
    (("[rank0]:        The extend info: errcode:(0x800000, 0x4000, 0) errorStr: The DDR address "
     "of the MTE instruction is out of range.CCU instruction address check error."),
     "AI Core exception: MTE address out of range (507015)", True),
    # vllm-ascend #486
    (("[rank1]: EI0006: [PID: 1292363] 2025-04-08-18:07:20.444.436 Getting socket times out. "
     "Reason: Remote Rank did not send the data in time."), "HCCL communication failure", True),
    # vllm-ascend #5461 (newer CANN wording)
    (("[PID: 749] 2025-12-29-03:16:15.787.356 Get_Socket_Timeout(EI0006): Getting socket times "
     "out."), "HCCL communication failure", True),
    # vllm-ascend #3162
    (("[rank1]: EI0009: [PID: 2225827] 2025-09-24-20:59:48.119.066 Transport init error. Reason: "
     "[Create][DestLink]Create Dest error!"), "HCCL communication failure", True),
    # vllm-ascend #1704 (its title), the TP / PP variants' failure
    (("[ERROR] 2025-07-10-10:00:00 (PID:1, Device:1, RankID:1) ERR02200 DIST call hccl api "
     "failed."), "HCCL communication failure", True),
]


@pytest.mark.parametrize(("line", "name", "climb"), UPSTREAM_LINES,
                         ids=[name for _, name, _ in UPSTREAM_LINES])
def test_upstream_log_lines_get_their_diagnosis(line, name, climb):
    signature, quoted = find_fatal("INFO starting\n" + line + "\n")
    assert (signature.name, signature.climb) == (name, climb)
    assert quoted == line


def test_507015_is_not_called_a_shortage_of_streams():
    signature, _ = find_fatal("RuntimeError: ACL stream synchronize failed, error code is 507015")
    assert "MTE" in signature.name and "streams" not in signature.remedy


def test_a_process_id_is_not_an_error_code():
    """vLLM prefixes every line with the process id; 6-7 digit ids are normal on NPU hosts
    (vllm-ascend #8393: pid=1802921)."""
    for line in ("(EngineCore pid=1507903) INFO 12-07 [core.py:90] ready",
                 "(Worker_TP0 pid=507903) INFO loading weights",
                 "(EngineCore pid=2507015) INFO capture sizes [1, 2, 4]"):
        assert find_fatal(line) is None, line
    assert find_fatal("RuntimeError: 507903 ACL graph capture error")[0].name == \
        "ACL graph capture error 507903"


def test_the_kv_cache_budget_remedy_says_which_vllm_ascend_honours_it():
    signature, _ = find_fatal("ValueError: No available memory for the cache blocks")
    assert "#8289" in signature.remedy and "--gpu-memory-utilization" in signature.remedy

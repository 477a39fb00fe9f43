from pytest_ascend_oss.server import argv as a

GUIDE = "vllm serve /models/gpt-oss-20b --dtype bfloat16 --max-model-len 131072 --max-num-seqs 16"


def test_adds_host_port_and_served_name_when_absent():
    argv, port, served = a.complete_argv(a.split_command(GUIDE), port=8123)
    assert argv[:9] == a.split_command(GUIDE)
    assert argv[argv.index("--port") + 1] == "8123" and port == 8123
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert served == "gpt-oss-20b" and argv[argv.index("--served-model-name") + 1] == served


def test_keeps_what_the_user_gave():
    cmd = a.split_command(GUIDE + " --port=8000 --served-model-name oss --host 0.0.0.0")
    argv, port, served = a.complete_argv(cmd)
    assert argv == cmd and port == 8000 and served == "oss"


def test_free_port_when_none_given():
    _, port, _ = a.complete_argv(["vllm", "serve", "m"])
    assert 1024 < port < 65536


def test_model_path_forms():
    assert a.model_path(["vllm", "serve", "/m/x", "--dtype", "bfloat16"]) == "/m/x"
    assert a.model_path(["python", "-m", "vllm.entrypoints.openai.api_server", "--model", "/m/y"]) == "/m/y"
    assert a.model_path(["python", "-m", "x", "--model=/m/z"]) == "/m/z"
    assert a.model_path(["vllm", "serve", "--help"]) is None


def test_eager_rung_and_redaction():
    assert a.with_eager(["x"]) == ["x", "--enforce-eager"]
    assert a.with_eager(["x", "--enforce-eager"]) == ["x", "--enforce-eager"]
    assert a.redact(["s", "--api-key", "k", "--api-key=k2"]) == [
        "s", "--api-key", "<hidden>", "--api-key=<hidden>"]


def test_variant_flags_replace_the_commands_own():
    from pytest_ascend_oss.server.argv import ranks, with_flags, without_flags

    argv = ["vllm", "serve", "/m", "--tensor-parallel-size", "1", "--port", "8000",
            "--enforce-eager", "--max-num-batched-tokens=8192"]
    out = with_flags(argv, ["--tensor-parallel-size", "2", "--max-num-batched-tokens", "512"])
    assert out == ["vllm", "serve", "/m", "--enforce-eager",
                   "--tensor-parallel-size", "2", "--max-num-batched-tokens", "512"]
    assert with_flags(["vllm", "serve", "/m", "--enforce-eager"], ["--enforce-eager"]) == \
        ["vllm", "serve", "/m", "--enforce-eager"]
    assert without_flags(["a", "--x=1", "--y", "2", "b"], {"--x": 1, "--y": 1}) == ["a", "b"]
    assert ranks(["--tensor-parallel-size", "2", "--pipeline-parallel-size=2"]) == 4
    assert ranks(["--data-parallel-size", "2"]) == 2 and ranks([]) == 1



def test_full_decode_only_on_an_old_vllm_ascend_is_named_as_the_known_cause():
    from pytest_ascend_oss.suites.features.parity import known_graph_cause

    argv = ["vllm", "serve", "/m", "--compilation-config",
            '{"cudagraph_mode": "FULL_DECODE_ONLY"}']
    assert "#9165" in known_graph_cause(argv, "0.18.0rc1")
    assert "#9165" in known_graph_cause(argv, None)
    assert known_graph_cause(argv, "0.20.2rc1") is None
    assert known_graph_cause(["vllm", "serve", "/m"], "0.18.0rc1") is None  # piecewise default

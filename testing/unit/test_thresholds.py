import re

import pytest

from pytest_ascend_oss import thresholds
from pytest_ascend_oss.thresholds import ThresholdsError, load


def shipped_text() -> str:
    return thresholds.DEFAULT_FILE.read_text()


def test_shipped_profiles_load_with_the_guide_targets():
    npu = load(None, "atlas-800-a2")
    assert npu.get("precision", "token_match_min") == 0.95
    assert npu.get("precision", "hidden_cosine_min") == 0.99
    assert npu.get("precision", "rouge_l_min") == 0.98
    assert npu.get("long_context", "recall_min") == 1.0
    assert npu.get("long_context", "ttft_max_s") == 5.0
    assert npu.get("performance", "ttft_max_ms") == 100.0
    assert npu.get("performance", "prompt_tokens") == 1024
    assert npu.get("performance", "tpot_max_ms") == 20.0
    assert npu.get("performance", "output_throughput_min") == 2000.0
    assert npu.get("performance", "qps_min") == 5.0
    assert npu.get("performance", "concurrency") == [1, 4, 8, 16]
    assert load(None, "cpu-canary").name == "cpu-canary"


def test_misspelt_key_is_named(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text(shipped_text().replace("tpot_max_ms = 20.0", "tpot_max_msec = 20.0"))
    with pytest.raises(ThresholdsError) as err:
        load(bad, "atlas-800-a2")
    message = str(err.value)
    assert str(bad) in message and "'tpot_max_msec'" in message and "20.0" in message
    assert "tpot_max_ms" in message  # the valid choices are listed


def test_wrong_type_is_named(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text(shipped_text().replace("qps_min = 5.0", 'qps_min = "five"'))
    with pytest.raises(ThresholdsError, match=r"key 'qps_min' = 'five': expected float, got str"):
        load(bad, "atlas-800-a2")


def test_missing_profile_lists_the_choices():
    with pytest.raises(ThresholdsError, match=r"no profile 'atlas-900'.*atlas-800-a2, cpu-canary"):
        load(None, "atlas-900")


def test_missing_key_is_an_error(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text(shipped_text().replace("recall_min = 1.0\n", "", 1))
    with pytest.raises(ThresholdsError, match=r"\[cpu-canary.long_context\] missing keys: recall_min"):
        load(bad, "atlas-800-a2")


def test_unknown_suite_and_bad_toml(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text(shipped_text() + '\n["cpu-canary".precison]\ntoken_match_min = 0.9\n')
    with pytest.raises(ThresholdsError, match=r"unknown key 'precison'"):
        load(bad, "cpu-canary")
    bad.write_text("[x\n")
    with pytest.raises(ThresholdsError, match="not valid TOML"):
        load(bad, "x")


def test_missing_file(tmp_path):
    with pytest.raises(ThresholdsError, match="not found"):
        load(tmp_path / "nope.toml", "cpu-canary")


def test_bad_statistic_and_concurrency_lists(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text(shipped_text().replace('statistic = "median"', 'statistic = "p95"', 1))
    with pytest.raises(ThresholdsError, match=r"'statistic' = 'p95': valid choices: mean, median"):
        load(bad, "atlas-800-a2")
    bad.write_text(shipped_text().replace("concurrency = [1, 4, 8, 16]", "concurrency = []", 1))
    with pytest.raises(ThresholdsError, match="non-empty list of positive integers"):
        load(bad, "atlas-800-a2")


def test_restated_choices_agree_with_their_owners():
    """thresholds.py imports nothing of the package, so it restates two lists; they must agree."""
    from pytest_ascend_oss.metrics.latency import STATISTICS
    from pytest_ascend_oss.suites.long_context.cases import VARIANT_DEPTH

    assert thresholds.STATISTICS == STATISTICS
    assert set(thresholds.NEEDLE_VARIANTS) == set(VARIANT_DEPTH)


@pytest.mark.parametrize("table", ['{ 1K = 2.0 }', '{ 1024 = -1.0 }', '{ 1024 = "fast" }'])
def test_ttft_by_length_needs_token_counts_and_positive_seconds(tmp_path, table):
    text = thresholds.DEFAULT_FILE.read_text()
    bad = tmp_path / "t.toml"
    bad.write_text(re.sub(r"(?m)^ttft_max_s_by_length = .*$",
                          f"ttft_max_s_by_length = {table}", text, count=1))
    with pytest.raises(ThresholdsError, match="ttft_max_s_by_length"):
        load(bad, "atlas-800-a2")


def test_ttft_by_length_loads_as_sorted_ints():
    table = load(None, "cpu-canary").get("long_context", "ttft_max_s_by_length")
    assert table and list(table) == sorted(table) and all(isinstance(k, int) for k in table)


def test_ttft_by_concurrency_is_checked_like_by_length(tmp_path):
    text = thresholds.DEFAULT_FILE.read_text()
    bad = tmp_path / "t.toml"
    bad.write_text(re.sub(r"(?m)^ttft_max_ms_by_concurrency = .*$",
                          "ttft_max_ms_by_concurrency = { c16 = 1.0 }", text, count=1))
    with pytest.raises(ThresholdsError, match="'ttft_max_ms_by_concurrency' has c16"):
        load(bad, "atlas-800-a2")
    assert load(None, "cpu-canary").get("performance", "ttft_max_ms_by_concurrency")[16] == 180.0


def test_the_guides_run_shapes_per_level():
    """atlas-800-a2 runs the guide's two benchmark.py commands: 50 x 256 tokens at c=1 and
    200 x 512 at c=16; the levels the guide does not name keep the common shape."""
    perf = load(None, "atlas-800-a2").values["performance"]
    assert perf["output_tokens_by_concurrency"] == {1: 256, 16: 512}
    assert perf["requests_by_concurrency"] == {1: 50, 16: 200}
    assert load(None, "cpu-canary").values["performance"]["requests_by_concurrency"] == {}


@pytest.mark.parametrize("value", ["{ 16 = 0 }", "{ 16 = 2.5 }", "{ c16 = 200 }"])
def test_run_shapes_must_be_positive_integers_per_level(tmp_path, value):
    text = shipped_text()
    bad = tmp_path / "t.toml"
    bad.write_text(re.sub(r"(?m)^requests_by_concurrency = .*$",
                          f"requests_by_concurrency = {value}", text, count=1))
    with pytest.raises(ThresholdsError, match="'requests_by_concurrency' has .*positive integer"):
        load(bad, "atlas-800-a2")


def test_features_choices_agree_with_their_owners():
    from pytest_ascend_oss.gptoss.tools import FUNCTIONS
    from pytest_ascend_oss.suites.features import rows

    assert thresholds.TOOLS == tuple(FUNCTIONS)
    assert thresholds.PARALLEL_ROWS == rows.PARALLEL
    assert set(thresholds.FEATURE_ROWS) <= {row for row, _ in rows.ROWS}


@pytest.mark.parametrize("old, new, named", [
    ('tool_tools = ["get_weather",', 'tool_tools = ["get_wether",', "get_weather"),
    ('tool_tools = ["get_weather", "convert_currency", "create_calendar_event"]',
     "tool_tools = []", "tool_tools"),
    ("parity_batches = [1, 4, 16]\nparity_identical_min = 1.0\n# vLLM CPU",
     "parity_batches = [0]\nparity_identical_min = 1.0\n# vLLM CPU", "parity_batches"),
    ('unsupported = { tp = "vLLM', 'unsupported = { tq = "vLLM', "tq"),
    ("reasoning_grows = false", 'reasoning_grows = "no"', "reasoning_grows"),
    ("tool_converting_cases = false", 'tool_converting_cases = "no"', "tool_converting_cases"),
    ("chunked_prefill_tokens = 512", "chunked_prefill_tokens = 0", "chunked_prefill_tokens"),
])
def test_bad_features_values_are_named(tmp_path, old, new, named):
    text = shipped_text()
    assert old in text
    bad = tmp_path / "t.toml"
    bad.write_text(text.replace(old, new))
    with pytest.raises(ThresholdsError) as err:
        load(bad, "cpu-canary")
    assert named in str(err.value) and "features" in str(err.value)

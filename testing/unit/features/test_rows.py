import pytest

from pytest_ascend_oss.suites.features import parity, rows
from pytest_ascend_oss.suites.features.report import FeatureTable


def test_row_status_never_passes_a_check_that_did_not_run():
    P, F, N, U = rows.PASSED, rows.FAILED, rows.NOT_RUN, rows.UNSUPPORTED
    assert rows.row_status({}) == N
    assert rows.row_status({"a": {"status": P}}) == P
    assert rows.row_status({"a": {"status": P}, "b": {"status": N}}) == N
    assert rows.row_status({"a": {"status": N}, "b": {"status": F}}) == F
    assert rows.row_status({"a": {"status": U}}) == U
    A = rows.NOT_APPLICABLE
    assert rows.row_status({"a": {"status": P}, "b": {"status": A}}) == P
    assert rows.row_status({"a": {"status": A}}) == N


def test_served_dtype_from_the_launch_log(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("INFO [core.py] Initializing a V1 LLM engine with config: model='/m', "
                   "dtype=torch.bfloat16, max_seq_len=4096\n")
    assert rows.served_dtype(log) == "bfloat16"
    log.write_text("nothing here\n")
    assert rows.served_dtype(log) is None
    assert rows.served_dtype(None) is None


def test_mxfp4_served_is_read_from_the_engine_and_the_checkpoint(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("INFO [core.py:104] Initializing a V1 LLM engine (v0.18.0) with config: "
                   "model='/m', dtype=torch.bfloat16, disable_custom_all_reduce=True, "
                   "quantization=None, enforce_eager=False\n")
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text('{"model_type": "gpt_oss", "hidden_size": 2880}')
    served, evidence = rows.mxfp4_served(log, checkpoint)
    assert served is False and "engine quantization=None" in evidence
    assert "no MXFP4 quantization_config" in evidence
    log.write_text(log.read_text().replace("quantization=None", "quantization=mxfp4"))
    assert rows.mxfp4_served(log, None)[0] is True  # the engine loaded MXFP4 (a GPU host)
    (checkpoint / "config.json").write_text(
        '{"model_type": "gpt_oss", "quantization_config": {"quant_method": "mxfp4"}}')
    served, evidence = rows.mxfp4_served(None, checkpoint)
    assert served is True and "declares an MXFP4 quantization_config" in evidence
    assert rows.mxfp4_served(None, None) == (None, "")  # attached, nothing given: unmeasured


def _grid(outcome_at=lambda kind, depth: "passed", depths=rows.GUIDE_DEPTHS, ctx=131072):
    return {f"tests/test_long_context.py::test_needle_{kind}[ctx={ctx}-depth={d}]":
            {"outcome": outcome_at(kind, d)} for kind in ("recalled", "ttft") for d in depths}


def test_131k_row_passes_only_on_the_whole_grid():
    assert rows.context_131k(_grid(), "here")[0] == rows.PASSED
    assert rows.context_131k(_grid(ctx=65536), "here")[0] == rows.NOT_RUN
    status, note = rows.context_131k(_grid(depths=(0, 50, 100)), "here")
    assert status == rows.NOT_RUN and "depth 25" in note
    status, note = rows.context_131k(
        _grid(lambda k, d: "failed" if (k, d) == ("ttft", 100) else "passed"), "here")
    assert status == rows.FAILED and "ttft at depth 100" in note
    status, _ = rows.context_131k(
        _grid(lambda k, d: "skipped" if d == 50 else "passed"), "here")
    assert status == rows.NOT_RUN


def test_agreement_counts_identical_prompts_and_errors():
    ref = {"a": [1, 2, 3], "b": [1, 2, 3], "c": [4]}
    got = {"a": [1, 2, 3], "b": [1, 9, 9], "c": "HTTP 500: boom"}
    result = parity.agreement(ref, got)
    assert result["identical"] == 1 and result["identical_share"] == pytest.approx(1 / 3)
    assert result["differing"][0]["first_divergence"] == 1
    assert result["errors"] == [{"id": "c", "reference": None, "candidate": "HTTP 500: boom"}]



@pytest.mark.parametrize(("bound", "prompts", "allowed"), [
    (0.95, 16, 0),    # the variant rows' first sample: 15/16 = 0.9375 already fails 0.95
    (0.95, 57, 2),    # the precision suite's prompts: 55/57 = 0.965 passes, 54/57 does not
    (0.95, 20, 1),    # 19/20 is exactly 0.95
    (1.0, 57, 0),
    (0.9, 10, 1),     # 0.9 x 10 is 9.000000000000002 in floats: still one may differ
])
def test_differing_allowed_is_the_bound_on_that_many_prompts(bound, prompts, allowed):
    assert parity.differing_allowed(bound, prompts) == allowed
    assert (prompts - allowed) / prompts >= bound - 1e-12
    if allowed < prompts:
        assert (prompts - allowed - 1) / prompts < bound

def test_feature_table_files(tmp_path):
    table = FeatureTable(tmp_path, "cpu-canary")
    table.record("graph", "batch 1", rows.PASSED, "16/16 identical")
    table.record("tp", "agreement", rows.UNSUPPORTED, "one KV head")
    table.record("tools", "pass_at_k", rows.PASSED, "1.00")
    table.record("tools", "three turns", rows.FAILED, "garbage | pipes")
    text = (tmp_path / "features.md").read_text()
    assert "| ACLGraph (graph mode vs --enforce-eager) | ✅ measured |" in text
    assert "| Tensor Parallel | — not supported by this backend |" in text
    assert "| Tool Calling | ❌ failed |" in text and "garbage \\| pipes" in text
    assert "| BF16 | — not run | no check of this row ran" in text
    import json

    data = json.loads((tmp_path / "features.json").read_text())
    assert data["rows"]["tools"]["status"] == rows.FAILED

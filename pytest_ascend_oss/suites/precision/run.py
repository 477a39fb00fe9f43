"""The precision suite's one orchestration (the guide's verify_precision.py): collect from the
server under test and from the reference (a baseline file or a live server), compare, probe the
hidden states, and judge every criterion through a gate. ``ascend-oss verify-precision`` and the
acceptance tests both call ``verify``, then ``gates`` and ``write_reports``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...gates import Gate
from ...report.files import write_json_atomic, write_text_atomic
from ...transport import vllm
from ...transport.http import ServerError, sync_client
from . import baseline, collect, hidden, prompts, report
from .compare import compare

# Without a reference nothing was compared: every criterion fails with this, never skips.
NO_REFERENCE = (
    "not measured: no reference to compare with. Record one on the GPU (reference) host, "
    "serving the same checkpoint: `pytest -m precision --server-cmd \"vllm serve "
    "/models/gpt-oss-20b --dtype bfloat16\" --record-baseline baseline.json` (or "
    "`ascend-oss verify-precision --npu-url http://GPU-HOST:8000 --record baseline.json`), "
    "then judge this server with --baseline baseline.json; or give a live reference server "
    "with --baseline-url URL")


def verify(dut_url: str, model: str, *, api_key: str | None = None, max_tokens: int = 256,
           prompts_path: Path | None = None, reference_url: str | None = None,
           baseline_path: Path | None = None, record_path: Path | None = None,
           checkpoint: Path | None = None, hidden_device: str = "cpu",
           hidden_dtype: str = "bfloat16", extra: dict | None = None,
           endpoint: str = "completions", progress: Callable[[str], None] = print) -> dict:
    """The whole comparison of the guide's verify_precision.py.

    Returns ``{"recorded": path}`` when recording, ``{"not_measured": reason}`` without a
    reference,
    else the comparison (see ``compare``) plus ``hidden_state``.
    """
    if not (baseline_path or reference_url or record_path):
        return {"not_measured": NO_REFERENCE}  # before any work: nothing could be compared
    settings = collect.sampling(max_tokens)
    prompt_set, sha = prompts.load_prompts(prompts_path)
    if endpoint not in ("completions", "chat"):
        raise collect.PrecisionError(f"unknown endpoint {endpoint!r}; choose completions or chat")
    # The endpoint is part of the settings a baseline must share, but is not a request field.
    meta = {"model": model, "sampling": {**settings, "endpoint": endpoint},
            "prompt_set": {"name": prompt_set["name"], "sha256": sha,
                           "renderer": prompts.RENDERER},
            "perplexity": {"corpus_sha256": collect.corpus_sha256()}}
    with sync_client(dut_url, api_key, "generation") as dut:
        reference = None
        if baseline_path:
            reference = baseline.load(baseline_path)
            baseline.check_compatible(baseline_path, reference, meta)
            rendered = [{k: p.get(k) for k in ("id", "lang", "category", "prompt_ids",
                                               "messages")}
                        for p in reference["prompts"]]
            corpus_ids = reference["perplexity"]["prompt_ids"]
        else:
            rendered = [{"id": p["id"], "lang": p.get("lang"), "category": p.get("category"),
                         "messages": p["messages"],
                         "prompt_ids": prompts.render(p["messages"])}
                        for p in prompt_set["prompts"]]
            try:
                corpus_ids = vllm.tokenize(dut, model, collect.corpus_text())
            except ServerError as exc:
                raise collect.PrecisionError(str(exc)) from None
        candidate = collect.collect(dut, model, rendered, settings, corpus_ids, progress,
                                    endpoint)
        if record_path:
            path = baseline.save(record_path, {
                **meta, **candidate, **(extra or {}),
                "perplexity": {**candidate["perplexity"], **meta["perplexity"]}})
            return {"recorded": str(path)}
        if reference is None:
            with sync_client(reference_url, api_key, "generation") as ref:
                progress(f"reference server {reference_url}")
                reference = {**meta, **collect.collect(ref, model, rendered, settings,
                                                       corpus_ids, progress, endpoint)}
        forced = collect.teacher_forced(dut, model, reference["prompts"])
        result = compare(reference, candidate, forced,
                         lambda ids: vllm.detokenize(dut, model, ids))
    if checkpoint:
        sequences = [p["prompt_ids"] + p["generated_ids"] for p in reference["prompts"]]
        try:
            result["hidden_state"] = hidden.probe(checkpoint, sequences, hidden_device,
                                                  hidden_dtype)
        except (OSError, ValueError, ImportError) as exc:
            result["hidden_state"] = {"error": f"hidden-state probe of {checkpoint} failed: {exc}"}
    else:
        result["hidden_state"] = {"skip": "no checkpoint to probe (--checkpoint DIR)"}
    result["reference"] = str(baseline_path) if baseline_path else reference_url
    return result


def gates(result: dict, limits: dict, source: Callable[[str], str], evidence: str = ""
          ) -> dict[str, Gate]:
    """The guide's four criteria, by name. ``limits`` is the profile's precision table; a
    hidden-state cosine that was not measured is a gate that does not pass."""
    probe = result.get("hidden_state") or {}
    why = probe.get("skip") or probe.get("error") or ""
    return {
        "token_match": Gate("token match rate", result["token_match_rate"], ">=",
                            limits["token_match_min"], "", f"{evidence}:token_match_rate",
                            source("token_match_min")),
        "rouge_l": Gate("mean ROUGE-L", result["rouge_l"], ">=", limits["rouge_l_min"], "",
                        f"{evidence}:rouge_l", source("rouge_l_min")),
        "perplexity": Gate("perplexity relative difference", result["perplexity_rel_diff"],
                           "<=", limits["perplexity_rel_diff_max"], "",
                           f"{evidence}:perplexity_rel_diff", source("perplexity_rel_diff_max")),
        "hidden_cosine": Gate("last-layer hidden-state cosine (mean)", probe.get("mean"), ">=",
                              limits["hidden_cosine_min"], "", f"{evidence}:hidden_state.mean",
                              source("hidden_cosine_min"), why),
    }


def write_reports(result: dict, criteria: dict[str, Gate], json_path: Path, md_path: Path,
                  reference_name: str) -> None:
    """precision_report.json (everything, per prompt) and the guide's table as Markdown."""
    result["report"] = str(json_path)
    write_json_atomic(json_path, result)
    write_text_atomic(md_path, report.markdown_table(result, criteria, reference_name))

"""The precision suite's one orchestration (the guide's verify_precision.py): collect from the
server under test and from the reference (a baseline file or a live server), compare, probe the
hidden states from pooling twins, and judge every criterion through a gate. ``ascend-oss verify-precision`` and the
acceptance tests both call ``verify``, then ``gates`` and ``write_reports``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...gates import Gate
from ...gptoss.harmony import visible_text
from ...report.files import write_json_atomic, write_text_atomic
from ...transport import vllm
from ...transport.http import sync_client
from . import baseline, collect, conversations, hidden, kernel_probe, prompts, report
from . import reference as fp32_reference
from .compare import compare

# A pooling twin started only when asked: () -> (its URL, or None and why not).
Twin = Callable[[], tuple[str | None, str | None]]

# Without a reference nothing was compared: every criterion fails with this, never skips.
NO_REFERENCE = (
    "not measured: no reference to compare with. Record one on the GPU (reference) host, "
    "serving the same checkpoint: `pytest -m precision --server-cmd \"vllm serve "
    "/models/gpt-oss-20b --dtype bfloat16\" --record-baseline baseline.json` (or "
    "`ascend-oss verify-precision --npu-url http://GPU-HOST:8000 --record baseline.json`), "
    "then judge this server with --baseline baseline.json; or give a live reference server "
    "with --baseline-url URL")


def _no_hidden(where: str) -> str:
    return (f"not measured: {where}. The guide's hidden-state cosine compares the last-layer "
            "hidden states of the server's stack with the reference's, read from pooling twins: "
            "the same `vllm serve` command plus "
            f"{hidden.pooling_flags_text()}")


def render_prompts(prompt_set: dict) -> list[dict]:
    return [{"id": p["id"], "lang": p.get("lang"), "category": p.get("category"),
             "messages": p["messages"], "prompt_ids": prompts.render(p["messages"])}
            for p in prompt_set["prompts"]]


def metadata(model: str, max_tokens: int, prompts_path: Path | None, endpoint: str,
             corpus: dict, rendered_corpus: list[dict]) -> dict:
    """What a baseline and the run that uses it must share (``baseline.MUST_MATCH``)."""
    prompt_set, sha = prompts.load_prompts(prompts_path)
    if endpoint not in ("completions", "chat"):
        raise collect.PrecisionError(f"unknown endpoint {endpoint!r}; choose completions or chat")
    # The endpoint is part of the settings a baseline must share, but is not a request field.
    return {"model": model, "sampling": {**collect.sampling(max_tokens), "endpoint": endpoint},
            "prompt_set": {"name": prompt_set["name"], "sha256": sha,
                           "renderer": prompts.RENDERER},
            "perplexity": {"corpus": corpus["name"],
                           "corpus_sha256": conversations.sha256(rendered_corpus)}}


def verify(dut_url: str, model: str, *, api_key: str | None = None, max_tokens: int = 256,
           prompts_path: Path | None = None, reference_url: str | None = None,
           baseline_path: Path | None = None, record_path: Path | None = None,
           pooling_url: str | Twin | None = None, reference_pooling_url: str | None = None,
           pooling_note: str | None = None, corpus: str | Path | None = None,
           cpu_reference: Path | None = None, extra: dict | None = None,
           endpoint: str = "completions", progress: Callable[[str], None] = print) -> dict:
    """The whole comparison of the guide's verify_precision.py.

    Returns ``{"recorded": path}`` when recording, ``{"not_measured": reason}`` without a
    reference, else the comparison (see ``compare``) plus ``hidden_state``: the server's pooling
    twin (``pooling_url``) against the reference's hidden states (the baseline's, or those of
    ``reference_pooling_url``), or why that was not measured (``pooling_note``: why there is no
    pooling twin, e.g. it did not start). ``pooling_url`` may be a callable giving (URL, note)
    that starts the twin: it is called once the server under test has answered everything, so
    on a host with one card the server can step aside for its twin (server/step_aside.py).
    ``cpu_reference``: a second baseline (the guide's CPU FP32, from ``ascend-oss
    record-reference``) compared beside the gate, never gating.
    """
    if not (baseline_path or reference_url or record_path):
        return {"not_measured": NO_REFERENCE}  # before any work: nothing could be compared
    chosen = conversations.load(corpus, model)
    rendered_corpus = conversations.render(chosen)
    meta = metadata(model, max_tokens, prompts_path, endpoint, chosen, rendered_corpus)
    settings = collect.sampling(max_tokens)
    with sync_client(dut_url, api_key, "generation") as dut:
        reference = None
        if baseline_path:
            reference = baseline.load(baseline_path)
            baseline.check_compatible(baseline_path, reference, meta)
            rendered = [{k: p.get(k) for k in ("id", "lang", "category", "prompt_ids",
                                               "messages")}
                        for p in reference["prompts"]]
            rendered_corpus = reference["perplexity"]["conversations"]
        else:
            rendered = render_prompts(prompts.load_prompts(prompts_path)[0])
        candidate = collect.collect(dut, model, rendered, settings, rendered_corpus, progress,
                                    endpoint)
        if record_path:
            recorded = {**meta, **candidate, **(extra or {}),
                        "perplexity": {**candidate["perplexity"], **meta["perplexity"]}}
            pooling_url, pooling_note = _twin(pooling_url, pooling_note)
            if pooling_url:
                recorded["hidden_states"] = {"source": f"pooling twin {pooling_url}",
                                             "entries": hidden.encode(_pooled(
                                                 pooling_url, api_key, model,
                                                 candidate["prompts"], progress))}
            path = baseline.save(record_path, recorded)
            return {"recorded": str(path), "hidden_states": bool(pooling_url)}
        if reference is None:
            with sync_client(reference_url, api_key, "generation") as ref:
                progress(f"reference server {reference_url}")
                reference = {**meta, **collect.collect(ref, model, rendered, settings,
                                                       rendered_corpus, progress, endpoint)}
            if reference_pooling_url:
                reference["hidden_states"] = {
                    "source": f"pooling twin {reference_pooling_url}",
                    "entries": hidden.encode(_pooled(reference_pooling_url, api_key, model,
                                                     reference["prompts"], progress))}
        forced = collect.teacher_forced(dut, model, reference["prompts"])
        result = compare(reference, candidate, forced,
                         lambda ids: vllm.detokenize(dut, model, ids))
        result["text_ids"] = text_agreement(candidate["prompts"], endpoint, visible_text)
        if cpu_reference:
            beside = baseline.load(cpu_reference)
            baseline.check_compatible(cpu_reference, beside, meta)
            if beside["perplexity"]["conversations"] != rendered_corpus or [
                    p["prompt_ids"] for p in beside["prompts"]] != [
                    p["prompt_ids"] for p in rendered]:
                raise baseline.BaselineError(f"{cpu_reference}: rendered other token ids than "
                                             "the reference; record both with this version")
            progress(f"beside the gate: {cpu_reference}")
            second = compare(beside, candidate, collect.teacher_forced(dut, model,
                                                                       beside["prompts"]))
    pooling_url, pooling_note = _twin(pooling_url, pooling_note)
    result["hidden_state"] = _hidden_state(reference, pooling_url, api_key, model,
                                           baseline_path, progress, pooling_note)
    result["reference"] = str(baseline_path) if baseline_path else reference_url
    result["reference_device"] = reference.get("device") or "server"
    if cpu_reference:
        second["hidden_state"] = _hidden_state(beside, pooling_url, api_key, model,
                                               cpu_reference, progress, pooling_note)
        result["beside"] = {"reference": str(cpu_reference),
                            "device": beside.get("device") or "server",
                            **{k: v for k, v in second.items() if k not in ("prompts", "worst")}}
    return result


def text_agreement(generated: list[dict], endpoint: str,
                   decode: Callable[[list[int]], str]) -> dict:
    """Is each answer's text what its ids say? The id-based criteria judge the ids; a user
    reads the text. A server (or a gateway before it) whose text and ids disagree would pass
    them while its users read something else. ``decode``: the text gpt-oss's tokenizer gives
    the ids with special tokens skipped, as vLLM returns completions text (the server's
    /detokenize keeps the harmony specials, so it cannot stand in). Completions only: a chat
    answer's text is its parsed content and reasoning, not its harmony tokens."""
    if endpoint != "completions":
        return {"not_applicable": "the chat endpoint's text is the parsed content and "
                                  "reasoning, not the generated harmony tokens"}
    differing = []
    for p in generated:
        said = decode(p["generated_ids"])
        if said != p["text"]:
            differing.append({"id": p["id"], "text": p["text"][:120], "ids_say": said[:120]})
    n = len(generated)
    return {"share": (n - len(differing)) / n if n else None, "prompts": n,
            "differing_count": len(differing), "differing": differing[:5]}


def _twin(pooling_url: str | Twin | None, note: str | None) -> tuple[str | None, str | None]:
    return pooling_url() if callable(pooling_url) else (pooling_url, note)


def _pooled(url: str, api_key: str | None, model: str, generated: list[dict],
            progress: Callable[[str], None]) -> list[dict]:
    progress(f"hidden states: {len(generated)} sequences from {url}")
    with sync_client(url, api_key, "generation") as http:
        return hidden.sampled(http, model, [p["prompt_ids"] + p["generated_ids"]
                                            for p in generated])


def _hidden_state(reference: dict, pooling_url: str | None, api_key: str | None, model: str,
                  baseline_path: Path | None, progress: Callable[[str], None],
                  pooling_note: str | None = None) -> dict:
    """The server's hidden states on the reference's sequences against the reference's."""
    stored = reference.get("hidden_states")
    if not stored:
        where = (f"the baseline {baseline_path} holds no hidden states (recorded without a "
                 "pooling twin: record it again with --pooling-url, or with `ascend-oss "
                 "record-reference`)" if baseline_path else
                 "the reference server's pooling twin was not given (--baseline-pooling-url)")
        return {"not_measured": _no_hidden(where)}
    if not pooling_url:
        return {"not_measured": _no_hidden(pooling_note or "this server's pooling twin was not "
                                           "given (--pooling-url URL)")}
    try:
        tested = _pooled(pooling_url, api_key, model, reference["prompts"], progress)
        return hidden.compare(hidden.decode(stored["entries"]), tested,
                              [p["id"] for p in reference["prompts"]], stored.get("source", ""))
    except hidden.HiddenStateError as exc:
        return {"error": str(exc)}


def embedded_reference(checkpoint: Path, model: str, *, max_tokens: int = 256,
                       prompts_path: Path | None = None, endpoint: str = "completions",
                       corpus: str | Path | None = None,
                       progress: Callable[[str], None] = print) -> Path:
    """The embedded default's reference: ``checkpoint`` in float32 by transformers on the CPU,
    recorded once per settings into the cache (reference.cached)."""
    chosen = conversations.load(corpus, model)
    rendered_corpus = conversations.render(chosen)
    meta = metadata(model, max_tokens, prompts_path, endpoint, chosen, rendered_corpus)
    rendered = render_prompts(prompts.load_prompts(prompts_path)[0])
    return fp32_reference.cached(checkpoint, meta, rendered, rendered_corpus, progress)


def probe_kernels(checkpoint: Path, sequences: list[list[int]], device: str, dtype: str) -> dict:
    """The offline checkpoint probe of the device's torch kernels (kernel_probe), reported on
    its own: it never touches the server, so it never stands in for the guide's criterion."""
    try:
        return kernel_probe.probe(checkpoint, sequences, device, dtype)
    except (OSError, ValueError, ImportError) as exc:
        return {"error": f"checkpoint probe of {checkpoint} failed: {exc}"}


def gates(result: dict, limits: dict, source: Callable[[str], str], evidence: str = ""
          ) -> dict[str, Gate]:
    """The guide's four criteria, by name (the hidden-state cosine twice: its mean, the guide's
    bound, and its worst prompt's mean). ``limits`` is the profile's precision table; a figure that was
    not measured is a gate that does not pass, its note the remedy."""
    probe = result.get("hidden_state") or {}
    why = probe.get("not_measured") or probe.get("error") or ""
    text = result.get("text_ids") or {}
    found = {
        "token_match": Gate("token match rate", result["token_match_rate"], ">=",
                            limits["token_match_min"], "", f"{evidence}:token_match_rate",
                            source("token_match_min")),
        "rouge_l": Gate("mean ROUGE-L", result["rouge_l"], ">=", limits["rouge_l_min"], "",
                        f"{evidence}:rouge_l", source("rouge_l_min")),
        "perplexity": Gate("perplexity relative difference", result["perplexity_rel_diff"],
                           "<=", limits["perplexity_rel_diff_max"], "",
                           f"{evidence}:perplexity_rel_diff", source("perplexity_rel_diff_max"),
                           f"mean NLL difference {result['perplexity_nll_diff_nats']:+.4f} nats "
                           f"over {result['perplexity_tokens']} assistant tokens"),
        "hidden_cosine": Gate("last-layer hidden-state cosine (mean)", probe.get("mean"), ">=",
                              limits["hidden_cosine_min"], "", f"{evidence}:hidden_state.mean",
                              source("hidden_cosine_min"), why),
        "hidden_cosine_prompt": Gate("last-layer hidden-state cosine (worst prompt's mean)",
                                     probe.get("worst_prompt_mean"), ">=",
                                     limits["hidden_cosine_prompt_min"], "",
                                     f"{evidence}:hidden_state.worst_prompt_mean",
                                     source("hidden_cosine_prompt_min"), why),
    }
    if "share" in text:  # completions: the text checked against the ids (text_agreement)
        found["text_ids"] = Gate("answers whose text is what their ids say", text["share"],
                                 ">=", 1.0, "", f"{evidence}:text_ids.share",
                                 "fixed: a user reads the text, the criteria judge the ids")
    return found


def write_reports(result: dict, criteria: dict[str, Gate], json_path: Path, md_path: Path,
                  reference_name: str) -> None:
    """precision_report.json (everything, per prompt) and the guide's table as Markdown."""
    result["report"] = str(json_path)
    write_json_atomic(json_path, result)
    write_text_atomic(md_path, report.markdown_table(result, criteria, reference_name))

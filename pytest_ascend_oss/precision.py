"""The guide's precision comparison (精度对比): collect from servers, compare with a baseline.

Both sides get the same prompt token ids on ``/v1/completions`` at temperature 0, top_p 1 and the
same max_tokens. Knows nothing of pytest; the suite and ``ascend-oss verify-precision`` use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import httpx
import numpy as np

from .metrics import text as tm

TOP_K = 5


def sampling(max_tokens: int = 256) -> dict:
    """The guide's settings: temperature 0, top_p 1, max_tokens 256."""
    return {"temperature": 0.0, "top_p": 1.0, "max_tokens": max_tokens, "logprobs": TOP_K}


def corpus_text() -> str:
    return (resources.files("pytest_ascend_oss") / "data" / "perplexity_corpus.txt").read_text(
        encoding="utf-8")


def corpus_sha256() -> str:
    return hashlib.sha256(corpus_text().encode()).hexdigest()


class PrecisionError(RuntimeError):
    pass


def _post(http: httpx.Client, body: dict) -> dict:
    answer = http.post("/v1/completions", json=body)
    if answer.status_code != 200:
        raise PrecisionError(f"/v1/completions answers {answer.status_code}: {answer.text[:400]}")
    return answer.json()["choices"][0]


def _ids_logprobs(entries: list[dict]) -> list[dict[int, float]]:
    """vLLM top_logprobs with return_tokens_as_token_ids ("token_id:123" keys) -> {id: lp}."""
    return [{int(tok.split(":", 1)[1]): lp for tok, lp in (entry or {}).items()}
            for entry in entries]


def generate(http: httpx.Client, model: str, prompt_ids: list[int], settings: dict) -> dict:
    choice = _post(http, {"model": model, "prompt": prompt_ids, **settings,
                          "return_token_ids": True, "return_tokens_as_token_ids": True})
    if choice.get("token_ids") is None:
        raise PrecisionError("the server ignores return_token_ids (vLLM >= 0.10.2 supports it)")
    return {"generated_ids": choice["token_ids"], "text": choice["text"],
            "top_logprobs": _ids_logprobs(choice["logprobs"]["top_logprobs"]),
            "finish_reason": choice.get("finish_reason")}


def generate_chat(http: httpx.Client, model: str, messages: list[dict], settings: dict) -> dict:
    """Chat-endpoint variant: the server renders the prompt (with its own date: see docs)."""
    body = {"model": model, "messages": messages, "temperature": settings["temperature"],
            "top_p": settings["top_p"], "max_tokens": settings["max_tokens"], "logprobs": True,
            "top_logprobs": settings["logprobs"], "return_token_ids": True,
            "return_tokens_as_token_ids": True}
    answer = http.post("/v1/chat/completions", json=body)
    if answer.status_code != 200:
        raise PrecisionError(f"/v1/chat/completions answers {answer.status_code}: "
                             f"{answer.text[:400]}")
    data = answer.json()
    choice = data["choices"][0]
    if choice.get("token_ids") is None or data.get("prompt_token_ids") is None:
        raise PrecisionError("the server ignores return_token_ids on chat (vLLM >= 0.10.2)")
    message = choice["message"]
    text = "\n".join(t for t in (message.get("reasoning") or message.get("reasoning_content"),
                                 message.get("content")) if t)
    top = [{int(e["token"].split(":", 1)[1]): e["logprob"] for e in pos["top_logprobs"]}
           for pos in (choice.get("logprobs") or {}).get("content") or []]
    return {"prompt_ids": data["prompt_token_ids"], "generated_ids": choice["token_ids"],
            "text": text, "top_logprobs": top, "finish_reason": choice.get("finish_reason")}


def prompt_logprobs(http: httpx.Client, model: str, ids: list[int], k: int = 0
                    ) -> list[dict[int, float]]:
    """Per-position logprobs of a prompt (vLLM's ``prompt_logprobs``), the first position
    excluded: the actual token's and the top-k."""
    choice = _post(http, {"model": model, "prompt": ids, "max_tokens": 1, "temperature": 0,
                          "prompt_logprobs": k})
    entries = choice.get("prompt_logprobs")
    if not entries:
        raise PrecisionError("the server returned no prompt_logprobs (a vLLM extension)")
    return [{int(t): v["logprob"] for t, v in entry.items()} for entry in entries[1:]]


def corpus_logprobs(http: httpx.Client, model: str, corpus_ids: list[int]) -> list[float]:
    positions = prompt_logprobs(http, model, corpus_ids, 0)
    return [pos[token] for pos, token in zip(positions, corpus_ids[1:])]


def tokenize(http: httpx.Client, model: str, text: str) -> list[int]:
    answer = http.post("/tokenize", json={"model": model, "prompt": text,
                                          "add_special_tokens": False})
    if answer.status_code != 200:
        raise PrecisionError(f"/tokenize answers {answer.status_code}: {answer.text[:300]}")
    return answer.json()["tokens"]


def collect(http: httpx.Client, model: str, rendered: list[dict], settings: dict,
            corpus_ids: list[int], progress: Callable[[str], None] = print,
            endpoint: str = "completions") -> dict:
    """Generate every prompt and score the perplexity corpus on one server."""
    prompts = []
    for i, p in enumerate(rendered, 1):
        if endpoint == "chat":
            prompts.append({**p, **generate_chat(http, model, p["messages"], settings)})
        else:
            prompts.append({**p, **generate(http, model, p["prompt_ids"], settings)})
        if i % 10 == 0 or i == len(rendered):
            progress(f"precision: {i}/{len(rendered)} prompts generated")
    return {"prompts": prompts,
            "perplexity": {"prompt_ids": corpus_ids,
                           "logprobs": corpus_logprobs(http, model, corpus_ids)}}


def teacher_forced(http: httpx.Client, model: str, reference: list[dict]) -> list[dict]:
    """Feed the reference's own outputs as prompts; the candidate's top-k at each position."""
    out = []
    for p in reference:
        positions = prompt_logprobs(http, model, p["prompt_ids"] + p["generated_ids"], TOP_K)
        out.append({"id": p["id"], "positions": positions[len(p["prompt_ids"]) - 1:]})
    return out


def compare(reference: dict, candidate: dict, forced: list[dict],
            detokenize: Callable[[list[int]], str] | None = None, worst: int = 5) -> dict:
    """Every criterion of the guide's table, per prompt and overall."""
    rows = []
    by_id = {p["id"]: p for p in candidate["prompts"]}
    forced_by_id = {f["id"]: f["positions"] for f in forced}
    agreements, kls = [], []
    for ref in reference["prompts"]:
        cand = by_id[ref["id"]]
        a, b = ref["generated_ids"], cand["generated_ids"]
        div = tm.common_prefix(a, b)
        forced_positions = forced_by_id.get(ref["id"], [])
        for j, (ref_top, tf_top) in enumerate(zip(ref["top_logprobs"], forced_positions)):
            agreements.append(tm.top1(tf_top) == a[j])
            kls.append(tm.kl_top_k(ref_top, tf_top))
        row = {"id": ref["id"], "lang": ref.get("lang"), "category": ref.get("category"),
               "same_input": cand.get("prompt_ids", ref.get("prompt_ids")) == ref.get("prompt_ids"),
               "exact": a == b, "prefix_fraction": tm.common_prefix_fraction(a, b),
               "first_divergence": None if a == b else div,
               "rouge_l": tm.rouge_l(ref["text"], cand["text"]),
               "reference_tokens": len(a), "candidate_tokens": len(b)}
        if a != b:
            row["reference_continuation"] = _piece(a[div:div + 24], detokenize)
            row["candidate_continuation"] = _piece(b[div:div + 24], detokenize)
        rows.append(row)
    ref_ppl = tm.perplexity(reference["perplexity"]["logprobs"])
    cand_ppl = tm.perplexity(candidate["perplexity"]["logprobs"])
    rows_sorted = sorted(rows, key=lambda r: (r["prefix_fraction"], r["rouge_l"]))
    return {
        "n_prompts": len(rows),
        # Chat mode only: the servers rendered some prompts to different ids (e.g. the date in
        # gpt-oss's system message), so those comparisons are not like for like.
        "prompts_with_different_input": sum(not r["same_input"] for r in rows),
        "token_match_rate": float(np.mean([r["exact"] for r in rows])),
        "mean_prefix_fraction": float(np.mean([r["prefix_fraction"] for r in rows])),
        "rouge_l": float(np.mean([r["rouge_l"] for r in rows])),
        "rouge_l_min": float(min(r["rouge_l"] for r in rows)),
        "perplexity_reference": ref_ppl,
        "perplexity_candidate": cand_ppl,
        "perplexity_rel_diff": tm.relative_difference(cand_ppl, ref_ppl),
        "teacher_forced_top1": float(np.mean(agreements)) if agreements else None,
        "teacher_forced_kl_mean": float(np.mean(kls)) if kls else None,
        "worst": [r for r in rows_sorted if not r["exact"]][:worst],
        "prompts": rows,
    }


def _piece(ids: list[int], detokenize: Callable[[list[int]], str] | None) -> str:
    if detokenize is None or not ids:
        return str(ids)
    try:
        return detokenize(ids)
    except (httpx.HTTPError, ValueError, KeyError):  # evidence is best-effort; ids are the fact
        return str(ids)


def worst_table(comparison: dict) -> str:
    lines = []
    for r in comparison["worst"]:
        lines.append(f"  {r['id']}: diverges at token {r['first_divergence']} "
                     f"(prefix {r['prefix_fraction']:.0%}, ROUGE-L {r['rouge_l']:.3f})\n"
                     f"    reference: {r.get('reference_continuation', '')[:160]!r}\n"
                     f"    candidate: {r.get('candidate_continuation', '')[:160]!r}")
    return "\n".join(lines)


def markdown_table(result: dict, limits: dict, reference_name: str) -> str:
    """The guide's precision table (实测结果), filled. ``limits`` is the profile's precision table."""
    def status(ok: bool | None) -> str:
        return "⬜ not run" if ok is None else ("✅ PASS" if ok else "❌ FAIL")

    probe = result.get("hidden_state") or {}
    cosine = probe.get("mean")
    rows = [
        ("Token Match Rate", "100 %", f"{result['token_match_rate']:.1%}",
         f"{result['token_match_rate'] - 1:+.1%}",
         status(result["token_match_rate"] >= limits["token_match_min"]),
         f">= {limits['token_match_min']:.0%}"),
        ("Cosine Similarity", "1 (fp32 CPU)", "-" if cosine is None else f"{cosine:.5f}",
         "-" if cosine is None else f"{cosine - 1:+.5f}",
         status(None if cosine is None else cosine >= limits["hidden_cosine_min"]),
         f">= {limits['hidden_cosine_min']}"),
        ("Perplexity Diff", f"{result['perplexity_reference']:.4f}",
         f"{result['perplexity_candidate']:.4f}", f"{result['perplexity_rel_diff']:+.2%} (rel.)",
         status(result["perplexity_rel_diff"] <= limits["perplexity_rel_diff_max"]),
         f"<= {limits['perplexity_rel_diff_max']:.0%} relative"),
        ("ROUGE-L", "1", f"{result['rouge_l']:.4f}", f"{result['rouge_l'] - 1:+.4f}",
         status(result["rouge_l"] >= limits["rouge_l_min"]), f">= {limits['rouge_l_min']}"),
    ]
    lines = [f"# 精度对比: measured results (reference: {reference_name})", "",
             "| 指标 | 基准 | 被测 | 差异 | 状态 | 阈值 |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", f"{result['n_prompts']} prompts; mean common-prefix fraction "
              f"{result['mean_prefix_fraction']:.3f}; teacher-forced top-1 agreement "
              f"{result['teacher_forced_top1']:.3f}, mean top-{TOP_K} KL "
              f"{result['teacher_forced_kl_mean']:.2e}. Hidden-state cosine: "
              + (f"{probe['dtype']} on {probe['device']} vs fp32 CPU, min {probe['min']:.5f}"
                 if cosine is not None else probe.get("skip", "not run")) + "."]
    return "\n".join(lines) + "\n"


def verify(dut_url: str, model: str, *, api_key: str | None = None, max_tokens: int = 256,
           prompts_path: Path | None = None, reference_url: str | None = None,
           baseline_path: Path | None = None, record_path: Path | None = None,
           checkpoint: Path | None = None, hidden_device: str = "cpu",
           hidden_dtype: str = "bfloat16", extra: dict | None = None,
           endpoint: str = "completions", progress: Callable[[str], None] = print) -> dict:
    """The whole comparison of the guide's verify_precision.py.

    Returns ``{"recorded": path}`` when recording, ``{"skip": reason}`` without a reference,
    else the comparison (see ``compare``) plus ``hidden_state``.
    """
    from . import baseline, hidden, prompts
    from .server.launcher import auth_headers

    settings = sampling(max_tokens)
    prompt_set, sha = prompts.load_prompts(prompts_path)
    if endpoint not in ("completions", "chat"):
        raise PrecisionError(f"unknown endpoint {endpoint!r}; choose completions or chat")
    # The endpoint is part of the settings a baseline must share, but is not a request field.
    meta = {"model": model, "sampling": {**settings, "endpoint": endpoint},
            "prompt_set": {"name": prompt_set["name"], "sha256": sha,
                           "renderer": prompts.RENDERER},
            "perplexity": {"corpus_sha256": corpus_sha256()}}
    headers = auth_headers(api_key)
    with httpx.Client(base_url=dut_url, headers=headers, timeout=900) as dut:
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
                         "prompt_ids": prompts.render_harmony(p["messages"])}
                        for p in prompt_set["prompts"]]
            corpus_ids = tokenize(dut, model, corpus_text())
        candidate = collect(dut, model, rendered, settings, corpus_ids, progress, endpoint)
        if record_path:
            path = baseline.save(record_path, {
                **meta, **candidate, **(extra or {}),
                "perplexity": {**candidate["perplexity"], **meta["perplexity"]}})
            return {"recorded": str(path)}
        if reference is None:
            if reference_url is None:
                return {"skip": "no reference: give a baseline file or a reference server URL "
                                "(record a baseline on the reference host first)"}
            with httpx.Client(base_url=reference_url, headers=headers, timeout=900) as ref:
                progress(f"reference server {reference_url}")
                reference = {**meta, **collect(ref, model, rendered, settings, corpus_ids,
                                               progress, endpoint)}
        forced = teacher_forced(dut, model, reference["prompts"])

        def detokenize(ids: list[int]) -> str:
            return dut.post("/detokenize", json={"model": model, "tokens": ids}).json()["prompt"]

        result = compare(reference, candidate, forced, detokenize)
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

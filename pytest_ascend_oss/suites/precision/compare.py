"""The guide's criteria computed from two collections: per prompt and overall."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import numpy as np

from ...metrics import text as tm
from ...transport.http import ServerError


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
    ref_lp = [lp for conv in reference["perplexity"]["logprobs"] for lp in conv]
    cand_lp = [lp for conv in candidate["perplexity"]["logprobs"] for lp in conv]
    if len(ref_lp) != len(cand_lp):  # the same ids on both sides, or no comparison at all
        raise ValueError(f"perplexity: the reference scored {len(ref_lp)} tokens, the server "
                         f"{len(cand_lp)}")
    ref_ppl, cand_ppl = tm.perplexity(ref_lp), tm.perplexity(cand_lp)
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
        # Mean per-token negative log-likelihood, server minus reference, in nats: the same
        # quantity without the exponential (log of the perplexity ratio).
        "perplexity_nll_diff_nats": float(np.mean(ref_lp) - np.mean(cand_lp)),
        "perplexity_tokens": len(ref_lp),
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
    except (httpx.HTTPError, ServerError, ValueError, KeyError):  # evidence is best-effort; ids are the fact
        return str(ids)


def worst_table(comparison: dict) -> str:
    lines = []
    for r in comparison["worst"]:
        lines.append(f"  {r['id']}: diverges at token {r['first_divergence']} "
                     f"(prefix {r['prefix_fraction']:.0%}, ROUGE-L {r['rouge_l']:.3f})\n"
                     f"    reference: {r.get('reference_continuation', '')[:160]!r}\n"
                     f"    candidate: {r.get('candidate_continuation', '')[:160]!r}")
    return "\n".join(lines)

"""The precision results for people: the guide's 精度对比 table, filled from the gates."""

from __future__ import annotations

from ...gates import FAIL, NOT_MEASURED, PASS, Gate
from .collect import TOP_K

STATUS = {PASS: "✅ PASS", FAIL: "❌ FAIL", NOT_MEASURED: "⬜ not measured"}


def _figure(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def markdown_table(result: dict, gates: dict[str, Gate], reference_name: str) -> str:
    """The guide's precision table (实测结果). ``gates`` by criterion, as ``run.gates`` gives."""
    hs = result.get("hidden_state") or {}
    tm, cos, cos_min, ppl, rouge = (gates[k] for k in ("token_match", "hidden_cosine",
                                                        "hidden_cosine_prompt", "perplexity",
                                                        "rouge_l"))
    cosine, worst = hs.get("mean"), hs.get("worst_prompt_mean")
    rows = [
        ("Token Match Rate", "100 %", f"{result['token_match_rate']:.1%}",
         f"{result['token_match_rate'] - 1:+.1%}", STATUS[tm.status], f"{tm.op} {tm.bound:.0%}"),
        ("Cosine Similarity (mean)", "1", _figure(cosine, ".5f"),
         "-" if cosine is None else f"{cosine - 1:+.5f}", STATUS[cos.status],
         f"{cos.op} {cos.bound}"),
        ("Cosine Similarity (worst prompt)", "1", _figure(worst, ".5f"),
         "-" if worst is None else f"{worst - 1:+.5f}", STATUS[cos_min.status],
         f"{cos_min.op} {cos_min.bound}"),
        ("Perplexity Diff", f"{result['perplexity_reference']:.4f}",
         f"{result['perplexity_candidate']:.4f}",
         (f"{result['perplexity_rel_diff']:+.2%} (rel.), "
         f"{result['perplexity_nll_diff_nats']:+.4f} nats/token"),
         STATUS[ppl.status], f"{ppl.op} {ppl.bound:.0%} relative"),
        ("ROUGE-L", "1", f"{result['rouge_l']:.4f}", f"{result['rouge_l'] - 1:+.4f}",
         STATUS[rouge.status], f"{rouge.op} {rouge.bound}"),
    ]
    lines = [f"# 精度对比: measured results (reference: {reference_name})", "",
             "| 指标 | 基准 | 被测 | 差异 | 状态 | 阈值 |", "|---|---|---|---|---|---|"]
    if "text_ids" in gates:  # not the guide's row: the text users read against the ids judged
        text, gate = result["text_ids"], gates["text_ids"]
        rows.append(("Text = ids (not in the guide)", "100 %", f"{text['share']:.1%}",
                     f"{text['differing_count']} of {text['prompts']} differ",
                     STATUS[gate.status], f"{gate.op} {gate.bound:.0%}"))
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if result.get("beside"):
        lines += ["", *beside_table(result, result["beside"])]
    hidden_line = (f"Hidden states: the server's pooling twin against {hs.get('source')}, "
                   f"{hs['tokens']} sampled tokens, lowest single token {hs['min']:.4f}"
                   if cosine is not None else
                   f"Hidden states: {cos.note or 'not measured'}")
    lines += ["", (f"{result['n_prompts']} prompts; mean common-prefix fraction "
              f"{result['mean_prefix_fraction']:.3f}; teacher-forced top-1 agreement "
              f"{result['teacher_forced_top1']:.3f}, mean top-{TOP_K} KL (lower bound) "
              f"{result['teacher_forced_kl_mean']:.2e}. Perplexity over "
              f"{result['perplexity_tokens']} assistant tokens of harmony conversations. "
              f"{hidden_line}.")]
    return "\n".join(lines) + "\n"


def beside_table(gated: dict, beside: dict) -> list[str]:
    """The server against the gate's reference and against a second one (the guide's CPU FP32)
    side by side; the second column judges nothing."""
    def cosine(r: dict, key: str) -> str:
        return _figure((r.get("hidden_state") or {}).get(key), ".5f")

    rows = [("Token Match Rate", f"{gated['token_match_rate']:.1%}",
             f"{beside['token_match_rate']:.1%}"),
            ("Cosine Similarity (mean)", cosine(gated, "mean"), cosine(beside, "mean")),
            ("Cosine Similarity (worst prompt)", cosine(gated, "worst_prompt_mean"),
             cosine(beside, "worst_prompt_mean")),
            ("Perplexity rel. diff", f"{gated['perplexity_rel_diff']:+.2%}",
             f"{beside['perplexity_rel_diff']:+.2%}"),
            ("ROUGE-L", f"{gated['rouge_l']:.4f}", f"{beside['rouge_l']:.4f}")]
    return [(f"## Side by side: vs the gate's reference and vs {beside['device']} "
            f"({beside['reference']}, not gated)"), "",
            "| 指标 | vs reference (gate) | vs " + beside["device"] + " |", "|---|---|---|",
            *("| " + " | ".join(r) + " |" for r in rows)]

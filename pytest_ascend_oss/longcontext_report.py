"""The long-context results as files: long_context_report.json, the guide's table in Markdown,
and a heatmap (length x depth) because people read a heatmap faster than a table."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .longcontext import Outcome

PASS, FAIL = "✅", "❌"


def _label(length: int) -> str:
    return f"~{round(length / 1024)}K" if length >= 1024 else str(length)


def summary(outcomes: list[Outcome]) -> dict:
    by_kind: dict[str, dict] = {}
    for o in outcomes:
        k = by_kind.setdefault(o.case.kind, {"cases": 0, "passed": 0})
        k["cases"] += 1
        k["passed"] += o.passed
    for k in by_kind.values():
        k["recall"] = k["passed"] / k["cases"]
    ttfts = [o.ttft_s for o in outcomes if o.ttft_s is not None]
    return {"by_kind": by_kind, "max_ttft_s": max(ttfts) if ttfts else None,
            "all_passed": all(o.passed for o in outcomes)}


def write_json(path: Path, outcomes: list[Outcome], meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {**meta, "summary": summary(outcomes), "cases": [o.as_dict() for o in outcomes]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    tmp.replace(path)


def markdown(outcomes: list[Outcome], ttft_max_s: float, profile: str) -> str:
    grid = [o for o in outcomes if o.case.kind == "guide"]
    lines = [f"## 长上下文测试 (needle in a haystack), profile `{profile}`", ""]
    lengths = sorted({o.case.length for o in grid})
    depths = sorted({o.case.depth for o in grid})
    if grid:
        # The guide's own table pairs the i-th depth with the i-th length.
        lines += ["| 深度 | 上下文长度 | 首 token 延迟 | 召回结果 | 状态 |", "|---|---|---|---|---|"]
        cell = {(o.case.length, o.case.depth): o for o in grid}
        for depth, length in zip(depths, lengths):
            o = cell.get((length, depth))
            if o is None:
                continue
            lines.append(f"| {depth}% | {_label(length)} ({o.context_tokens or '-'} tokens) | "
                         f"{_ttft(o)} | {'recalled ' + o.expected if o.passed else o.verdict[:80]}"
                         f" | {_status(o, ttft_max_s)} |")
        lines += ["", ("Every length x depth (TTFT; ✅ recalled and within "
                  f"{ttft_max_s:g} s):"), "",
                  "| length | " + " | ".join(f"{d}%" for d in depths) + " |",
                  "|---|" + "---|" * len(depths)]
        for length in lengths:
            row = [cell.get((length, d)) for d in depths]
            lines.append(f"| {_label(length)} | " + " | ".join(
                f"{_status(o, ttft_max_s)} {_ttft(o)}" if o else "-" for o in row) + " |")
    others = [o for o in outcomes if o.case.kind != "guide"]
    if others:
        lines += ["", "| variant | length | depth | result | TTFT |", "|---|---|---|---|---|"]
        for o in others:
            lines.append(f"| {o.case.kind} | {_label(o.case.length)} | {o.case.depth}% | "
                         f"{_status(o, ttft_max_s)} {o.verdict[:80]} | {_ttft(o)} |")
    return "\n".join(lines) + "\n"


def _ttft(o: Outcome) -> str:
    return f"{o.ttft_s:.2f} s" if o.ttft_s is not None else "-"


def _status(o: Outcome, ttft_max_s: float) -> str:
    ok = o.passed and o.ttft_s is not None and o.ttft_s < ttft_max_s
    return PASS if ok else FAIL


def heatmap(path: Path, outcomes: list[Outcome], ttft_max_s: float) -> Path | None:
    """length x depth: green recalled within the TTFT bound, red not; TTFT written in each cell."""
    grid = [o for o in outcomes if o.case.kind == "guide"]
    if not grid:
        return None
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    lengths = sorted({o.case.length for o in grid})
    depths = sorted({o.case.depth for o in grid})
    cell = {(o.case.length, o.case.depth): o for o in grid}
    values = [[float("nan") if (length, d) not in cell else
               float(_status(cell[(length, d)], ttft_max_s) == PASS)
               for d in depths] for length in lengths]
    fig, ax = plt.subplots(figsize=(1.4 * len(depths) + 2, 0.7 * len(lengths) + 1.5))
    ax.imshow(values, cmap=ListedColormap(["#d9534f", "#5cb85c"]), vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(depths)), [f"{d}%" for d in depths])
    ax.set_yticks(range(len(lengths)), [_label(n) for n in lengths])
    ax.set_xlabel("needle depth")
    ax.set_ylabel("context length (tokens)")
    for i, length in enumerate(lengths):
        for j, d in enumerate(depths):
            o = cell.get((length, d))
            if o is not None:
                ax.text(j, i, _ttft(o), ha="center", va="center", fontsize=8)
    ax.set_title(f"needle recall and TTFT (green: recalled, TTFT < {ttft_max_s:g} s)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

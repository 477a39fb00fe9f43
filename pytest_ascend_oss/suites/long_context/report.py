"""The long-context results as files: long_context_report.json, the guide's table in Markdown,
and a heatmap (length x depth) because people read a heatmap faster than a table."""

from __future__ import annotations

from pathlib import Path

from ...report.files import write_json_atomic
from ...report.plots import pass_fail_heatmap
from .runner import Outcome
from .verdict import case_gates, ttft_bound

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
    report = {**meta, "summary": summary(outcomes), "cases": [o.as_dict() for o in outcomes]}
    write_json_atomic(path, report)


def markdown(outcomes: list[Outcome], limits: dict, profile: str) -> str:
    """The guide's table, every grid point and the variants; ``limits`` is the profile's
    long_context table."""
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
                         f" | {_status(o, limits)} |")
        lines += ["", ("Every length x depth (TTFT; ✅ recalled and within the TTFT bound: "
                  f"{_bounds(limits, lengths)}):"), "",
                  "| length | " + " | ".join(f"{d}%" for d in depths) + " |",
                  "|---|" + "---|" * len(depths)]
        for length in lengths:
            row = [cell.get((length, d)) for d in depths]
            lines.append(f"| {_label(length)} | " + " | ".join(
                f"{_status(o, limits)} {_ttft(o)}" if o else "-" for o in row) + " |")
    others = [o for o in outcomes if o.case.kind != "guide"]
    if others:
        lines += ["", "| variant | length | depth | result | TTFT |", "|---|---|---|---|---|"]
        for o in others:
            lines.append(f"| {o.case.kind} | {_label(o.case.length)} | {o.case.depth}% | "
                         f"{_status(o, limits)} {o.verdict[:80]} | {_ttft(o)} |")
    return "\n".join(lines) + "\n"


def _ttft(o: Outcome) -> str:
    return f"{o.ttft_s:.2f} s" if o.ttft_s is not None else "-"


def _status(o: Outcome, limits: dict) -> str:
    return PASS if all(g.passed for g in case_gates(o, limits)) else FAIL


def _bounds(limits: dict, lengths: list[int]) -> str:
    """The TTFT bound at each length, e.g. "~1K < 2 s, ~64K < 20 s" (one figure if flat)."""
    bounds = {n: ttft_bound(limits, n)[0] for n in lengths}
    if len(set(bounds.values())) == 1:
        return f"< {next(iter(bounds.values())):g} s"
    return ", ".join(f"{_label(n)} < {b:g} s" for n, b in bounds.items())


def heatmap(path: Path, outcomes: list[Outcome], limits: dict) -> Path | None:
    """length x depth: green recalled within the TTFT bound, red not; TTFT written in each cell."""
    grid = [o for o in outcomes if o.case.kind == "guide"]
    if not grid:
        return None
    lengths = sorted({o.case.length for o in grid})
    depths = sorted({o.case.depth for o in grid})
    cells = {(lengths.index(o.case.length), depths.index(o.case.depth)):
             (_status(o, limits) == PASS, _ttft(o)) for o in grid}
    return pass_fail_heatmap(
        path, [_label(n) for n in lengths], [f"{d}%" for d in depths], cells,
        f"needle recall and TTFT (green: recalled, TTFT {_bounds(limits, lengths)})",
        "needle depth", "context length (tokens)")

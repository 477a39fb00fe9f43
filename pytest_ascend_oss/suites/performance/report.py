"""The performance results for people: the guide's table, and a run's figures as text."""

from __future__ import annotations

import time

from ...gates import Gate
from .bench import DEFINITIONS, LevelRun


def markdown_table(rows: list[tuple[LevelRun, list[Gate]]], profile: str,
                   stat: str = "median") -> str:
    """The guide's 实测结果 table for the benchmark section, filled."""
    lines = [
        (f"# 性能 Benchmark: measured results (profile `{profile}`, "
         f"{time.strftime('%Y-%m-%d %H:%M')})"),
        "",
        "| 并发数 | TTFT (ms) | TPOT (ms) | Throughput (tokens/s) | QPS | n | 状态 |",
        "|---|---|---|---|---|---|---|",
    ]
    for run, level_gates in rows:
        m = run.metrics
        status = "✅ PASS" if all(g.passed for g in level_gates) else "❌ FAIL"
        failed = [g.name for g in level_gates if not g.passed]
        lines.append(
            f"| {run.concurrency} | {_num(m['ttft_ms'][stat], 1)} | {_num(m['tpot_ms'][stat], 2)} "
            f"| {m['output_throughput']:.1f} | {m['request_throughput']:.2f} "
            f"| {m['completed']}/{m['completed'] + m['failed']} "
            f"| {status}{' (' + ', '.join(failed) + ')' if failed else ''} |"
        )
    lines += ["", f"TTFT and TPOT: {stat} over the measured requests. Definitions:", ""]
    lines += [f"- **{k}**: {v}" for k, v in DEFINITIONS.items()]
    return "\n".join(lines) + "\n"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_lines(run: LevelRun) -> list[str]:
    """One run's figures as ``ascend-oss benchmark`` prints them."""
    m = run.metrics
    lines = [(f"concurrency {run.concurrency}, {m['completed']} completed, "
             f"{m['failed']} failed, {m['duration_s']:.1f} s")]
    for name in ("ttft_ms", "ttft_first_chunk_ms", "tpot_ms", "itl_ms", "e2el_ms"):
        s = m[name]
        if s["n"]:
            lines.append(f"  {name:<20} mean {s['mean']:9.2f}  median {s['median']:9.2f}  "
                         f"p90 {s['p90']:9.2f}  p99 {s['p99']:9.2f}  (n={s['n']})")
    lines.append(f"  output throughput    {m['output_throughput']:.1f} tokens/s")
    lines.append(f"  request throughput   {m['request_throughput']:.2f} req/s")
    lines.append(f"  goodput              {m['request_goodput']:.2f} req/s"
                 if m.get("request_goodput") is not None else
                 "  goodput              - (no SLO given)")
    lines.append(f"  prompt sizing        {run.sizing}")
    lines.append(f"  load                 {run.result.workers} process(es) on {run.result.loop}")
    return lines

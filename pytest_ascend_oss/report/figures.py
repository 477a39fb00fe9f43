"""The report's plots, drawn from what the suites wrote in the results directory (the files are
the interface: the report can be rebuilt from a copied directory, long after the run).

Each function returns the PNG it wrote, or None when its suite did not run.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import plots

FIGURES_DIR = "figures"
Levels = list[tuple[int, dict]]  # (concurrency, its performance/c<N>.json), by concurrency


def draw_all(results_dir: Path, data: dict) -> dict[str, Path]:
    """{caption: png} for every plot whose evidence exists, in the report's order."""
    results_dir = Path(results_dir)
    out: dict[str, Path] = {}
    limits = ((data.get("profile") or {}).get("thresholds") or {})
    heatmap = results_dir / "long_context_heatmap.png"
    if heatmap.is_file():
        out["Needle in a haystack: recalled (green) or missed (red), TTFT in each cell"] = heatmap
    levels = _levels(results_dir)  # read once: the c<N>.json files carry every request's timings
    for caption, draw in (
            ("Long-context TTFT against context length, with the bound", _long_context_ttft),
            ("TTFT and TPOT against concurrency, with the bounds", _latency_levels),
            ("Output throughput and QPS against concurrency, with the bounds", _throughput),
            ("Latency distributions per concurrency (CDF of TTFT, TPOT, ITL)", _latency_cdfs),
            ("Precision per prompt: ROUGE-L and the common prefix (worst first)", _precision)):
        path = draw(results_dir, limits, levels)
        if path is not None:
            out[caption] = path
    return out


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _levels(results_dir: Path) -> Levels:
    found = []
    for path in sorted((results_dir / "performance").glob("c*.json")):
        data = _read(path)
        if data and path.stem[1:].isdigit():
            found.append((int(path.stem[1:]), data))
    return sorted(found, key=lambda item: item[0])


def _latency_levels(results_dir: Path, limits: dict, levels: Levels) -> Path | None:
    if not levels:
        return None
    perf = limits.get("performance") or {}
    xs = [c for c, _ in levels]
    stat = perf.get("statistic", "median")
    by_level = perf.get("ttft_max_ms_by_concurrency") or {}
    ttft_bound = perf.get("ttft_max_ms")
    panels = [
        {"x": xs, "series": {f"{stat} TTFT": [d.get(f"{stat}_ttft_ms") for _, d in levels],
                             "p99 TTFT": [d.get("p99_ttft_ms") for _, d in levels]},
         "xlabel": "concurrency", "ylabel": "ms", "logx": True,
         "bound": None if by_level else ttft_bound, "bound_label": f"TTFT bound {ttft_bound} ms"},
        {"x": xs, "series": {f"{stat} TPOT": [d.get(f"{stat}_tpot_ms") for _, d in levels],
                             "p99 TPOT": [d.get("p99_tpot_ms") for _, d in levels]},
         "xlabel": "concurrency", "ylabel": "ms", "logx": True, "bound": perf.get("tpot_max_ms"),
         "bound_label": f"TPOT bound {perf.get('tpot_max_ms')} ms"},
    ]
    if by_level:  # a bound per level: drawn as its own series
        panels[0]["series"]["TTFT bound"] = [by_level.get(str(c), by_level.get(c, ttft_bound))
                                             for c in xs]
    return plots.lines(results_dir / FIGURES_DIR / "latency_vs_concurrency.png", panels,
                       "TTFT / TPOT")


def _throughput(results_dir: Path, limits: dict, levels: Levels) -> Path | None:
    if not levels:
        return None
    perf = limits.get("performance") or {}
    xs = [c for c, _ in levels]
    panels = [
        {"x": xs, "series": {"output tokens/s": [d.get("output_throughput") for _, d in levels]},
         "xlabel": "concurrency", "ylabel": "tokens/s", "logx": True,
         "bound": perf.get("output_throughput_min"),
         "bound_label": f"bound {perf.get('output_throughput_min')} tokens/s"},
        {"x": xs, "series": {"requests/s": [d.get("request_throughput") for _, d in levels]},
         "xlabel": "concurrency", "ylabel": "requests/s", "logx": True,
         "bound": perf.get("qps_min"), "bound_label": f"bound {perf.get('qps_min')} req/s"},
    ]
    return plots.lines(results_dir / FIGURES_DIR / "throughput_vs_concurrency.png", panels,
                       "Throughput / QPS")


def _latency_cdfs(results_dir: Path, limits: dict, levels: Levels) -> Path | None:
    if not levels:
        return None
    ttft, tpot, itl = {}, {}, {}
    for c, d in levels:
        ttft[f"c={c}"] = [t * 1000 for t in d.get("ttfts") or [] if t]
        tpot[f"c={c}"] = [
            (lat - t) * 1000 / (n - 1)
            for lat, t, n in zip(d.get("latencies") or [], d.get("ttfts") or [],
                                 d.get("output_lens") or []) if t and n and n > 1]
        itl[f"c={c}"] = [x * 1000 for gaps in d.get("itls") or [] for x in gaps]
    panels = [{"samples": ttft, "xlabel": "TTFT (ms)"}, {"samples": tpot, "xlabel": "TPOT (ms)"},
              {"samples": itl, "xlabel": "ITL (ms)"}]
    return plots.cdfs(results_dir / FIGURES_DIR / "latency_cdfs.png", panels,
                      "Latency distributions")


def _long_context_ttft(results_dir: Path, limits: dict, levels: Levels) -> Path | None:
    report = _read(results_dir / "long_context_report.json")
    if not report or not report.get("cases"):
        return None
    by_length: dict[int, list[float]] = {}
    for case in report["cases"]:
        if case.get("ttft_s") is not None:
            by_length.setdefault(case["case"]["length"], []).append(case["ttft_s"])
    if not by_length:
        return None
    xs = sorted(by_length)
    bounds = report.get("ttft_max_s_by_length") or {}
    default = report.get("ttft_max_s")

    def bound(length: int):
        listed = sorted(int(k) for k in bounds)
        at = [k for k in listed if k >= length]
        return float(bounds.get(str(at[0]), bounds.get(at[0]))) if at else default

    panel = {"x": xs, "series": {"max TTFT": [max(by_length[x]) for x in xs],
                                 "median TTFT": [sorted(by_length[x])[len(by_length[x]) // 2]
                                                 for x in xs],
                                 "TTFT bound": [bound(x) for x in xs]},
             "xlabel": "context length (tokens)", "ylabel": "s", "logx": True,
             "xticklabels": [f"{x // 1024}K" if x % 1024 == 0 else str(x) for x in xs]}
    return plots.lines(results_dir / FIGURES_DIR / "long_context_ttft.png", [panel],
                       "Long-context TTFT")


def _precision(results_dir: Path, limits: dict, levels: Levels) -> Path | None:
    report = _read(results_dir / "precision_report.json")
    if not report or not report.get("prompts"):
        return None
    prompts = sorted(report["prompts"], key=lambda p: (p.get("rouge_l") or 0,
                                                       p.get("prefix_fraction") or 0))
    labels = [str(p.get("id")) for p in prompts]
    bound = ((limits.get("precision") or {}).get("rouge_l_min"))
    panels = [{"values": [p.get("rouge_l") or 0 for p in prompts], "ylabel": "ROUGE-L",
               "bound": bound},
              {"values": [p.get("prefix_fraction") or 0 for p in prompts],
               "ylabel": "common prefix (share)", "color": "#7a9a3a"}]
    return plots.bars(results_dir / FIGURES_DIR / "precision_per_prompt.png", labels, panels,
                      "Precision per prompt")

"""A sweep: every concurrency at every (input, output) length pair, one JSON, and the Pareto
front of per-user output speed against total output throughput (what ``vllm bench sweep``
plots): the operating points where no other point is better for both the user and the fleet.
A front is drawn per length pair: points of different workloads do not compete.

Each point is one level measured exactly as ``ascend-oss benchmark`` measures it (fresh prompts,
its own vllm-bench JSON beside the sweep's); the sweep's JSON is rewritten after every point,
so an interrupted sweep keeps what it measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...report import plots
from ...report.files import write_json_atomic
from .bench import LevelRun


class SweepError(ValueError):
    """A sweep that cannot be run as asked (the message says what to change)."""


@dataclass(frozen=True)
class Shape:
    prompt_tokens: int
    output_tokens: int

    @property
    def label(self) -> str:
        return f"{self.prompt_tokens}:{self.output_tokens}"


def parse_shapes(text: str) -> list[Shape]:
    """``1024:128,4096:256``: input and output tokens per request, pairs by commas."""
    shapes = []
    for part in (p.strip() for p in str(text).split(",") if p.strip()):
        prompt, sep, output = part.partition(":")
        try:
            shape = Shape(int(prompt), int(output))
        except ValueError:
            shape = None
        if not sep or shape is None or shape.prompt_tokens < 1 or shape.output_tokens < 2:
            raise SweepError(f"length pair {part!r}: expected INPUT:OUTPUT tokens, both whole "
                             "numbers, output at least 2 (TPOT needs two tokens), e.g. 1024:128")
        shapes.append(shape)
    if not shapes:
        raise SweepError("no length pair given, e.g. --lengths 1024:128,4096:256")
    if len(set(shapes)) != len(shapes):
        raise SweepError(f"length pairs repeat: {text}")
    return shapes


def point(run: LevelRun, shape: Shape, json_path: Path) -> dict:
    """One measured point: what the table and the plot need, and where its evidence is."""
    m = run.metrics
    tpot = m["tpot_ms"]["median"]
    return {
        "concurrency": run.concurrency,
        "prompt_tokens": shape.prompt_tokens,
        "output_tokens": shape.output_tokens,
        "median_ttft_ms": m["ttft_ms"]["median"],
        "median_tpot_ms": tpot,
        # per-user output speed: how fast one user's answer streams once it started
        "per_user_output_tokens_s": 1000.0 / tpot if tpot else None,
        "output_throughput": m["output_throughput"],
        "request_throughput": m["request_throughput"],
        "request_goodput": m["request_goodput"],
        "completed": m["completed"],
        "failed": m["failed"],
        "result": str(json_path),
    }


def pareto(points: list[dict]) -> list[int]:
    """Indices of the points no other point beats on both per-user speed and throughput
    (ties kept), in order of per-user speed."""
    usable = [i for i, p in enumerate(points)
              if p["per_user_output_tokens_s"] is not None and not p["failed"]]

    def beaten(i: int) -> bool:
        a = points[i]
        return any(
            b["per_user_output_tokens_s"] >= a["per_user_output_tokens_s"]
            and b["output_throughput"] >= a["output_throughput"]
            and (b["per_user_output_tokens_s"] > a["per_user_output_tokens_s"]
                 or b["output_throughput"] > a["output_throughput"])
            for b in (points[j] for j in usable if j != i))

    front = [i for i in usable if not beaten(i)]
    return sorted(front, key=lambda i: points[i]["per_user_output_tokens_s"])


def fronts(points: list[dict]) -> dict[str, list[int]]:
    """The Pareto front of each length pair (``"1024:128"``), as indices into ``points``."""
    out: dict[str, list[int]] = {}
    for label in dict.fromkeys(f"{p['prompt_tokens']}:{p['output_tokens']}" for p in points):
        mine = [i for i, p in enumerate(points)
                if f"{p['prompt_tokens']}:{p['output_tokens']}" == label]
        out[label] = [mine[j] for j in pareto([points[i] for i in mine])]
    return out


def sweep(measure: Callable[[int, Shape, Path], LevelRun], concurrencies: list[int],
          shapes: list[Shape], output: Path, header: dict,
          progress: Callable[[str], None] = print) -> dict:
    """Measure every (shape, concurrency) with ``measure(c, shape, json_path)``; write
    ``output`` after each point and a Pareto plot beside it at the end."""
    if not concurrencies or any(c < 1 for c in concurrencies):
        raise SweepError(f"concurrencies {concurrencies}: give whole numbers >= 1")
    points: list[dict] = []
    result = {**header, "points": points, "pareto": {}, "complete": False}
    results_dir = output.with_suffix("")
    total = len(shapes) * len(concurrencies)
    for shape in shapes:
        for c in concurrencies:
            json_path = results_dir / f"in{shape.prompt_tokens}-out{shape.output_tokens}-c{c}.json"
            progress(f"sweep: point {len(points) + 1}/{total}: {shape.label} tokens at c={c}")
            points.append(point(measure(c, shape, json_path), shape, json_path))
            result["pareto"] = fronts(points)
            write_json_atomic(output, result)
    result["complete"] = True
    result["plot"] = str(plot(output.with_suffix(".png"), points, result["pareto"]))
    write_json_atomic(output, result)
    return result


def plot(path: Path, points: list[dict], front: dict[str, list[int]]) -> Path:
    """Per-user output speed (x) against total output throughput (y), a series per length
    pair, each point labelled with its concurrency; each pair's Pareto front as a line."""
    series: dict[str, list[tuple[float, float, str]]] = {}
    for p in points:
        if p["per_user_output_tokens_s"] is not None:
            series.setdefault(f"{p['prompt_tokens']}:{p['output_tokens']}", []).append(
                (p["per_user_output_tokens_s"], p["output_throughput"], f"c={p['concurrency']}"))
    return plots.front(path, series, {label: [(points[i]["per_user_output_tokens_s"],
                                               points[i]["output_throughput"]) for i in indices]
                                      for label, indices in front.items()},
                       "per-user output speed (tokens/s, 1000 / median TPOT)",
                       "total output throughput (tokens/s)",
                       "Throughput against per-user speed (in:out tokens)")

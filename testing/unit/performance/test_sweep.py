"""The sweep: length pairs parsed strictly, the Pareto front right, every point written as it
comes, the plot drawn."""

from __future__ import annotations

import json

import pytest

from pytest_ascend_oss.suites.performance import sweep
from pytest_ascend_oss.suites.performance.bench import LevelRun


def test_length_pairs_parse_and_bad_ones_say_what_is_expected():
    assert sweep.parse_shapes("1024:128, 4096:256") == [sweep.Shape(1024, 128),
                                                         sweep.Shape(4096, 256)]
    for bad, message in (("1024", "expected INPUT:OUTPUT"), ("a:b", "expected INPUT:OUTPUT"),
                         ("0:8", "expected INPUT:OUTPUT"), ("64:1", "output at least 2"),
                         ("", "no length pair"), ("8:8,8:8", "repeat")):
        with pytest.raises(sweep.SweepError, match=message):
            sweep.parse_shapes(bad)


def p(per_user, throughput, failed=0):
    return {"per_user_output_tokens_s": per_user, "output_throughput": throughput,
            "failed": failed}


def test_the_pareto_front_keeps_exactly_the_points_nothing_beats_on_both():
    points = [p(100, 100), p(50, 300), p(40, 250),  # (40, 250) is beaten by (50, 300)
              p(20, 500), p(20, 400), p(None, 900), p(10, 1000, failed=1)]
    assert sweep.pareto(points) == [3, 1, 0]  # by per-user speed; failed/unmeasured left out
    assert sweep.pareto([p(10, 10), p(10, 10)]) == [0, 1]  # ties are both on the front


def level(c: int, tpot_ms: float, throughput: float) -> LevelRun:
    summary = {"median": tpot_ms}
    metrics = {"tpot_ms": summary, "ttft_ms": {"median": 20.0}, "output_throughput": throughput,
               "request_throughput": throughput / 10, "request_goodput": None,
               "completed": 10, "failed": 0}
    return LevelRun(c, "completions", None, metrics)  # type: ignore[arg-type]


def test_a_sweep_writes_after_every_point_and_ends_with_the_front_and_a_plot(tmp_path):
    output = tmp_path / "sweep.json"
    seen: list[int] = []

    def measure(c: int, shape: sweep.Shape, json_path) -> LevelRun:
        if seen:  # the previous point is already on disk when the next one is measured
            assert len(json.loads(output.read_text())["points"]) == len(seen)
        seen.append(c)
        return level(c, tpot_ms=5.0 * c, throughput=100.0 * c ** 0.5)

    found = sweep.sweep(measure, [1, 4, 16], [sweep.Shape(64, 8), sweep.Shape(128, 8)], output,
                        {"model": "m"}, progress=lambda m: None)
    saved = json.loads(output.read_text())
    assert saved["complete"] and saved == json.loads(json.dumps(found))
    assert [(q["prompt_tokens"], q["concurrency"]) for q in saved["points"]] == [
        (64, 1), (64, 4), (64, 16), (128, 1), (128, 4), (128, 16)]
    assert saved["points"][0]["per_user_output_tokens_s"] == pytest.approx(200.0)
    assert saved["points"][2]["result"].endswith("sweep/in64-out8-c16.json")
    assert saved["pareto"] == {"64:8": [2, 1, 0], "128:8": [5, 4, 3]}  # a front per pair
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_concurrency_is_a_clear_error(tmp_path):
    with pytest.raises(sweep.SweepError, match="whole numbers >= 1"):
        sweep.sweep(lambda *a: None, [], [sweep.Shape(8, 8)], tmp_path / "s.json", {})

"""Two results directories side by side (GPU vs NPU, before vs after an upgrade): the verdicts per
suite, then every measured figure with both values, the delta and the relative change, and every
criterion whose verdict changed, flagged first."""

from __future__ import annotations

from pathlib import Path

from .guide import OUTCOME, SUITES, _cell, load_results, verdicts


def markdown(dir_a: Path, dir_b: Path) -> str:
    a, b = load_results(dir_a), load_results(dir_b)
    out = [f"# 对比 / Comparison: `{dir_a}` (A) vs `{dir_b}` (B)", "",
           f"A: {_describe(a)}", "", f"B: {_describe(b)}", "",
           "## 结论 / Verdicts", "", "| suite | A | B | |", "|---|---|---|---|"]
    va, vb = verdicts(a), verdicts(b)
    for suite in SUITES:
        if suite in va or suite in vb:
            x, y = va.get(suite, "NOT RUN"), vb.get(suite, "NOT RUN")
            out.append(f"| {suite} | {x} | {y} | {'**changed**' if x != y else ''} |")
    ta, tb = _by_test(a), _by_test(b)
    changed = [n for n in sorted(set(ta) | set(tb))
               if (ta.get(n) or {}).get("outcome") != (tb.get(n) or {}).get("outcome")]
    out += ["", "## 判定变化 / Criteria whose verdict changed", ""]
    if changed:
        out += ["| criterion | A | B |", "|---|---|---|"]
        for nodeid in changed:
            out.append(f"| `{nodeid.split('::', 1)[-1]}` | {_outcome(ta.get(nodeid))} | "
                       f"{_outcome(tb.get(nodeid))} |")
    else:
        out.append("None.")
    out += ["", "## 数值 / Figures", "",
            "| criterion | figure | A | B | Δ (B − A) | Δ % | bound |",
            "|---|---|---|---|---|---|---|"]
    for nodeid in sorted(set(ta) | set(tb)):
        ma = (ta.get(nodeid) or {}).get("measurements") or {}
        mb = (tb.get(nodeid) or {}).get("measurements") or {}
        for name in sorted(set(ma) | set(mb), key=list({**ma, **mb}).index):
            x, y = (ma.get(name) or {}).get("value"), (mb.get(name) or {}).get("value")
            if not (_number(x) or _number(y)):
                continue
            delta = pct = ""
            if _number(x) and _number(y):
                delta = _cell(float(y) - float(x))
                pct = f"{(float(y) - float(x)) / abs(float(x)) * 100:+.1f} %" if x else ""
            bound = (mb.get(name) or ma.get(name) or {}).get("threshold", "")
            flag = " **changed**" if nodeid in changed else ""
            out.append(f"| `{nodeid.split('::', 1)[-1]}`{flag} | {name} | {_cell(x)} | "
                       f"{_cell(y)} | {delta} | {pct} | {_cell(bound)} |")
    return "\n".join(out) + "\n"


def _by_test(data: dict) -> dict[str, dict]:
    """Tests keyed by file name and test id: pytest's node ids start at each run's rootdir, which
    differs between checkouts, hosts, and even with where --results-dir points."""
    keyed = {}
    for nodeid, entry in (data.get("tests") or {}).items():
        path, _, rest = nodeid.partition("::")
        keyed[f"{Path(path).name}::{rest}"] = entry
    return keyed


def _describe(data: dict) -> str:
    server = data.get("server") or {}
    return (f"{server.get('model')} ({server.get('mode')}), profile "
            f"`{(data.get('profile') or {}).get('name')}`, started {data.get('started')}; "
            f"`{' '.join(server.get('argv') or []) or server.get('base_url')}`")


def _outcome(entry: dict | None) -> str:
    if not entry or "outcome" not in entry:
        return "not run"
    return OUTCOME.get(entry["outcome"], entry["outcome"])


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

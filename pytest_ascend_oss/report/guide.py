"""``results/report.md``: one document in the deployment guide's structure, from a results
directory, in the order a reader wants it: the verdict per suite and what failed, the guide's
four result tables as the suites filled them, the plots, the environment and the exact server
command, every criterion (value, bound, source; folded, it is long) and the evidence files. A
suite that did not run says so and gets no verdict.

Written at the end of every session (partial and interrupted runs too) and by
``ascend-oss report RESULTS_DIR``. It reads only what the run wrote, so it can be rebuilt later.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The guide's result tables, in its order: (suite, heading, the file the suite writes).
GUIDE_TABLES = (
    ("precision", "精度对比 / Precision", "precision.md"),
    ("long_context", "长上下文测试 / Long context", "long_context.md"),
    ("performance", "性能 Benchmark / Performance", "performance.md"),
    ("features", "功能状态矩阵 / Feature matrix", "features.md"),
    ("accuracy", "Accuracy against published figures (not in the guide)", "accuracy.md"),
)
SUITES = ("smoke", "precision", "long_context", "performance", "features", "accuracy")
OUTCOME = {"passed": "✅ PASS", "failed": "❌ FAIL", "error": "❌ ERROR",
           "skipped": "⚠️ NOT MEASURED", "not_applicable": "— not applicable",
           "recorded": "📼 RECORDED"}
ENVIRONMENT_KEYS = ("platform", "cpu", "python", "torch", "torch_npu", "vllm", "vllm_ascend",
                    "vllm_ascend_build", "transformers", "cann", "cann_source", "driver")


class ReportError(ValueError):
    pass


def load_results(results_dir: Path) -> dict:
    path = Path(results_dir) / "results.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no results.json (run the acceptance suite with "
                          f"--results-dir {results_dir} first)") from None
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: not a results file ({exc})") from None


def write(results_dir: Path, data: dict) -> tuple[Path, Path]:
    """Draw the plots, write report.md and report.html into ``results_dir``; return both."""
    from . import figures, html
    from .files import write_text_atomic

    results_dir = Path(results_dir)
    drawn = figures.draw_all(results_dir, data)
    text = markdown(data, results_dir, drawn)
    md = write_text_atomic(results_dir / "report.md", text)
    page = write_text_atomic(results_dir / "report.html",
                             html.render(text, results_dir, "gpt-oss-20b acceptance report"))
    return md, page


def markdown(data: dict, results_dir: Path, figures: dict[str, Path] | None = None) -> str:
    """The report; ``figures`` ({caption: png} from ``figures.draw_all``) become its plots
    section, linked relative to the results directory."""
    results_dir = Path(results_dir)
    ran = verdicts(data)
    out = ["# gpt-oss-20b 部署验收报告 / Acceptance report", ""]
    out += _verdicts(data, ran) + [""]
    out += _failures(data) + [""]
    for suite, heading, name in GUIDE_TABLES:
        out += [f"## {heading}", ""]
        table = results_dir / name
        if suite not in ran:
            out += [(f"Not run: no `{suite}` test ran in this session "
                     f"(`pytest -m {suite}` selects them)."), ""]
        elif table.is_file():
            body = table.read_text(encoding="utf-8").strip().splitlines()
            # the suite's own headings (they name the reference, the profile) stay, as text
            out += [f"**{line.lstrip('#').strip()}**" if line.startswith("#") else line
                    for line in body] + [""]
            if suite == "precision":
                out += _worst_prompts(results_dir / "precision_report.json")
        else:
            out += [(f"The `{suite}` suite ran but wrote no table ({name}); see its tests "
                     "above."), ""]
    if figures:
        out += ["## 图 / Figures", ""]
        for caption, path in figures.items():
            rel = Path(path).resolve().relative_to(results_dir.resolve())
            out += [f"![{caption}]({rel.as_posix()})", "", f"*{caption}*", ""]
    out += _environment(data) + [""]
    # Folded: one row per criterion is 150 rows on a full run (GitLab and GitHub render the
    # <details> of report.md too; report.html through markdown's md_in_html).
    criteria = _criteria(data)
    rows = len(criteria) - 4  # the heading, a blank line and the table's two header lines
    summary = (f"<summary>判定 / Criteria: {rows} rows, each with its value, bound and source "
               "(click to open)</summary>")
    out += ['<details markdown="1">', summary, "", *criteria, "", "</details>", ""]
    out += _evidence(results_dir)
    return "\n".join(out).rstrip() + "\n"


def verdicts(data: dict) -> dict[str, str]:
    """The session's verdicts; a run killed before its end (SIGKILL: no verdict written) has
    INCOMPLETE for every suite that reported a test."""
    found = dict(data.get("verdicts") or {})
    for entry in (data.get("tests") or {}).values():
        for suite in entry.get("suites") or []:
            found.setdefault(suite, "INCOMPLETE (the run was killed before its end)")
    return found


def _verdicts(data: dict, ran: dict[str, str]) -> list[str]:
    server = data.get("server") or {}
    lines = ["## 结论 / Verdict", "", "| suite | verdict |", "|---|---|"]
    for suite in SUITES:
        lines.append(f"| {suite} | {ran.get(suite, 'NOT RUN')} |")
    lines.append("")
    if data.get("interrupted"):
        lines.append(f"**The run was interrupted** during `{data.get('running')}`: what is below "
                     "is what was measured before.")
    if server.get("error"):
        lines.append(f"**Server unavailable:** {server['error'].splitlines()[0]}")
    if server.get("died"):
        lines.append(f"**Server died** before `{server['died']['before']}`: "
                     f"{server['died']['story'].splitlines()[0]}")
    if server.get("fallback"):
        lines.append(f"**Fallback:** the server came up only as `{server['fallback']}`; the "
                     "deployment as given did not start.")
    profile = data.get("profile") or {}
    lines.append(f"Profile `{profile.get('name')}` ({profile.get('file')}); started "
                 f"{data.get('started')}, finished {data.get('finished', '(not finished)')}.")
    return lines


def _failures(data: dict) -> list[str]:
    """What failed, right under the verdicts: one line per failed criterion, its first line."""
    lines = ["## 未通过 / What failed", ""]
    failed = [(nodeid, entry) for nodeid, entry in (data.get("tests") or {}).items()
              if entry.get("outcome") in ("failed", "error")]
    if not failed:
        return lines + ["Nothing failed."]
    for nodeid, entry in failed:
        suites = ", ".join(entry.get("suites") or [])
        why = _first_line(entry.get("message") or "") or entry["outcome"]
        lines.append(f"- **{suites}** `{nodeid.split('::', 1)[-1]}`: {why}")
    return lines


def _environment(data: dict) -> list[str]:
    env = data.get("environment") or {}
    server = data.get("server") or {}
    lines = ["## 环境 / Environment", "", "| item | value |", "|---|---|"]
    lines += [f"| {key} | {_cell(env.get(key))} |" for key in ENVIRONMENT_KEYS]
    lines.append(f"| Ascend host | {_cell(env.get('ascend_host'))} |")
    argv = " ".join(server.get("argv") or []) or "(attached: not launched here)"
    lines += [f"| server mode | {_cell(server.get('mode'))} |",
              f"| server command | `{argv}` |",
              f"| launch rung | {_cell(server.get('ladder_rung'))} |",
              f"| ready after | {_cell(server.get('startup_s'))} s |",
              f"| served model | {_cell(server.get('model'))} |",
              f"| vLLM reported | {_cell(server.get('vllm_version_reported'))} |"]
    serving = server.get("vllm_version") or {}
    if serving.get("lacks"):  # the rows of server/stack.py this vLLM does not have
        lines.append(f"| vLLM differences in force | {_cell(', '.join(serving['lacks']))} "
                     f"({_cell(serving.get('source'))}) |")
    plan = data.get("devices")
    if plan:
        loans = "; ".join(f"{e['server']}: {_cell(e.get('cards'))}"
                          for e in plan.get("extra_servers") or [])
        lines.append(f"| NPUs (device plan) | run {_cell(plan.get('cards'))} "
                     f"({_cell(plan.get('source'))}); server under test "
                     f"{_cell(plan.get('server'))}" + (f"; {loans}" if loans else "") + " |")
        asides = plan.get("server_stepped_aside") or []
        if asides:  # too few cards: the server under test was stopped for an extra server
            cost = sum(a.get("cost_s") or a.get("server_stopped_s") or 0 for a in asides)
            lines.append(f"| server under test stepped aside | {len(asides)} time"
                         f"{'s' if len(asides) > 1 else ''} (for "
                         f"{_cell(', '.join(a['for'] for a in asides))}): {cost:.0f} s of "
                         "extra launches |")
    if env.get("npu_smi"):
        lines += ["", "```text", str(env["npu_smi"]).strip(), "```"]
    return lines


def _criteria(data: dict) -> list[str]:
    lines = ["## 判定 / Criteria", "",
             "| suite | criterion | result | measured | bound | bound from |",
             "|---|---|---|---|---|---|"]
    for nodeid, entry in sorted((data.get("tests") or {}).items(),
                                key=lambda kv: (kv[1].get("suites") or ["~"])[0]):
        if "outcome" not in entry:
            continue  # began, never reported (an interrupted run)
        measurements = entry.get("measurements") or {}
        gated = [(name, m) for name, m in measurements.items() if "threshold" in m]
        name, m = gated[0] if gated else ("", {})
        test = nodeid.split("::", 1)[-1]
        result = OUTCOME.get(entry["outcome"], entry["outcome"])
        if m:
            measured = f"{name} = {_cell(m.get('value'))} {m.get('unit', '')}".strip()
        else:  # no gated figure (e.g. a needle: recalled or not): its plain figures
            measured = ", ".join(f"{k} = {_cell(v.get('value'))}" for k, v in measurements.items()
                                 if isinstance(v.get("value"), (bool, int, float)))[:200]
        if entry["outcome"] in ("failed", "error", "skipped") and entry.get("message"):
            measured = (measured + "; " if measured else "") + _first_line(entry["message"])
        lines.append(f"| {', '.join(entry.get('suites') or [])} | `{test}` | {result} | "
                     f"{_cell(measured)} | {_cell(m.get('threshold', ''))} | "
                     f"{_cell(m.get('threshold_source', ''))} |")
    return lines


def _worst_prompts(path: Path) -> list[str]:
    """The prompts that diverged, the reference and the candidate continuation side by side."""
    try:
        worst = json.loads(path.read_text(encoding="utf-8")).get("worst") or []
    except (OSError, ValueError):
        return []
    if not worst:
        return ["Every prompt's output matched the reference token for token.", ""]
    lines = ["Worst prompts (first divergence, reference vs candidate after it):", "",
             "| prompt | diverges at token | ROUGE-L | reference | candidate |",
             "|---|---|---|---|---|"]
    for r in worst:
        lines.append(f"| {_cell(r.get('id'))} | {_cell(r.get('first_divergence'))} | "
                     f"{_cell(r.get('rouge_l'))} | "
                     f"{_cell(str(r.get('reference_continuation', ''))[:160])} | "
                     f"{_cell(str(r.get('candidate_continuation', ''))[:160])} |")
    return lines + [""]


def _evidence(results_dir: Path) -> list[str]:
    lines = ["## 证据 / Evidence", ""]
    files = sorted(p for p in results_dir.rglob("*") if p.is_file()
                   and p.name not in ("report.md", "report.html")
                   and p.parent.name != "figures")
    for path in files:
        lines.append(f"- `{path.relative_to(results_dir)}` ({path.stat().st_size:,} bytes)")
    return lines


def _first_line(text: str) -> str:
    for line in str(text).splitlines():
        line = line.strip()
        if line and not line.startswith(("_", "=", "-")):
            return line[:240]
    return ""


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        value = f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")

"""The self-check's matrix as text: criteria down, the healthy run and each fault across.

In a fault's column a criterion it must flip reads ``CAUGHT`` (it failed), ``MISSED`` (it
passed: the suite would have passed a broken deployment) or ``not measured``; any other
criterion reads ``pass`` or ``fail`` as observed, so a fault's side effects are visible too.
"""

from __future__ import annotations


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (harmony markup is full of pipes)."""
    return text.replace("|", "\\|")


def summary(data: dict) -> str:
    v = data["verdicts"]
    detection = ("not measured" if v["detection"] is None
                 else f"{v['cells_caught']}/{v['cells_expected']} cells "
                      f"({100 * v['detection']:.0f} %), {v['faults_caught']}/{v['faults_judged']} "
                      "faults caught")
    healthy = (f"{v['healthy_passed']}/{v['healthy_judged']} criteria passed, "
               f"{len(v['healthy_failures'])} failed")
    quick = (f"; quick: {len(data['left_out'])} launched faults left out"
             if data.get("left_out") else "")
    return (f"detection: {detection}; healthy: {healthy}{quick}; "
            f"wall time {data['wall_s']:.0f} s")


def unmeasured(data: dict) -> str | None:
    """Why the self-check proved less than it should have (cells that must fail and were not
    measured, or no fault run at all); None when every expected cell was judged."""
    v = data["verdicts"]
    if v["detection"] is None:
        return "no fault ran"
    missing = v["cells_expected"] - v["cells_caught"] - sum(
        len(row["missed"]) for row in v["faults"].values())
    if missing:
        return (f"{missing} of {v['cells_expected']} cells that must fail were not measured "
                "(see selfcheck.md: 'not measured')")
    return None


def _mark(fault_row: dict | None, name: str, seen: str | None) -> str:
    if fault_row is not None:
        if name in fault_row["caught"]:
            return "CAUGHT"
        if name in fault_row["missed"]:
            return "**MISSED**"
        if name in fault_row["not_measured"]:
            return "not measured"
        if name in fault_row["not_applicable"]:
            return "n/a"
    return {"passed": "pass", "failed": "fail", "not applicable": "n/a",
            "not measured": "not measured", None: ""}[seen]


def markdown(data: dict) -> str:
    runs = list(data["cells"])
    rows = sorted({n for c in data["cells"].values() for n in c["observed"]}
                  | {n for f in data["faults"] for n in f["flips"]})
    faults = data["verdicts"]["faults"]
    lines = ["# Self-check: every criterion seen failing under a fault that should flip it", "",
             summary(data), "",
             (f"Server: {data['server']['base_url']} ({data['server']['mode']}), model "
              f"{data['server']['model']}, profile {data['profile']}; sizes: {data['sizes']}."),
             "",
             "| criterion | " + " | ".join(runs) + " |",
             "|---|" + "---|" * len(runs)]
    for name in rows:
        marks = [_mark(faults.get(run), name, data["cells"][run]["observed"].get(name))
                 for run in runs]
        lines.append(f"| {name} | " + " | ".join(marks) + " |")
    lines += ["", "## Faults", "", "| fault | what it does | must flip |", "|---|---|---|"]
    for fault in data["faults"]:
        why = data["skipped"].get(fault["name"]) or data.get("left_out", {}).get(fault["name"])
        lines.append(f"| {fault['name']} | {_cell(fault['does'])}"
                     + (f" ({why})" if why else "") + " | " + ", ".join(fault["flips"]) + " |")
    not_flipped = data.get("not_flipped") or {}
    if not_flipped:
        lines += ["", "## Criteria no fault flips", "",
                  ("Never seen failing here; why, and where the project's own tests show "
                   "them failing instead:"), "", "| criterion | why |", "|---|---|"]
        lines += [f"| {name} | {_cell(why)} |" for name, why in sorted(not_flipped.items())]
    problems = [f"- {run}: {c['problem']}" for run, c in data["cells"].items() if c["problem"]]
    if problems:
        lines += ["", "## Runs that gave no verdict", "", *problems]
    lines += ["", ("Each run's own results.json, junit.xml and pytest.log are under "
                   "selfcheck/<run>/.")]
    return "\n".join(lines) + "\n"

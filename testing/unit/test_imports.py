"""The package's layering (docs/architecture.md), checked on the source with ``ast``: every
import, at module level or inside a function, is an edge; the forbidden directions and any
cycle fail with the file and line that made them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "pytest_ascend_oss"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE
# Parts that import nothing of the package: pure rules and data.
LEAVES = ("metrics", "gates", "settings", "thresholds", "cache", "secret")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file, relative ones resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # "from . import x" may name a submodule: count it as the module it is
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.append((sub if _exists(sub) else module, node.lineno))
    return found


def _exists(module: str) -> bool:
    if not module.startswith(PACKAGE):
        return False
    rel = Path(*module.split(".")[1:])
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def _part(module: str) -> str:
    """plugin, cli, transport, suites.long_context, ... for a module of the package."""
    parts = module.split(".")[1:]
    if not parts:
        return ""
    return ".".join(parts[:2]) if parts[0] == "suites" and len(parts) > 1 else parts[0]


def _graph() -> dict[str, list[tuple[str, int]]]:
    return {_module_name(p): _imports(p) for p in sorted(ROOT.rglob("*.py"))}


def _violation(src: str, dst: str) -> str | None:
    a, b = _part(src), _part(dst) if dst.startswith(PACKAGE + ".") else None
    if b in ("plugin", "cli") and a != b:
        return f"nothing imports {b}"
    if a in LEAVES and b is not None and b != a and b != "secret":
        return f"{a} imports nothing of the package (but the Secret type)"
    if a.startswith("suites."):
        if dst == "pytest" or dst.startswith("_pytest"):
            return "a suite does not import pytest"
        if b is not None and b.startswith("suites.") and b != a:
            return "a suite does not import another suite"
        if b == "embedded":
            return "a suite does not import the embedded server (the canary is one server " \
                   "among many)"
    if a == "transport" and b in ("server", "load") or (
            a == "transport" and b is not None and b.startswith("suites")):
        return "transport imports neither server, load nor suites"
    return None


def test_no_forbidden_direction():
    bad = []
    for src, imports in _graph().items():
        for dst, line in imports:
            why = _violation(src, dst)
            if why:
                bad.append(f"{src} (line {line}) imports {dst}: {why}")
    assert not bad, "\n".join(bad)


def find_cycles(graph: dict[str, list[str]]) -> list[str]:
    """Every back edge of a depth-first search, as the chain of modules it closes."""
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    return cycles


def test_no_import_cycle():
    # Package __init__ files only hold docstrings; leaving them out keeps "a.b imports a" noise
    # (every submodule import runs its package's __init__) out of the cycle search.
    inits = {_module_name(p) for p in ROOT.rglob("__init__.py")}
    graph = {src: sorted({d for d, _ in imports if d.startswith(PACKAGE + ".") and d != src
                          and d not in inits})
             for src, imports in _graph().items()}
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_cycle_search_finds_the_old_canary_cycle():
    old = {"embedded.model": ["embedded.canary.layout"],
           "embedded.canary.layout": ["embedded.canary.harmony"],
           "embedded.canary.harmony": ["embedded.model"]}
    assert find_cycles(old) == [("embedded.model -> embedded.canary.layout -> "
                                "embedded.canary.harmony -> embedded.model")]


@pytest.mark.parametrize("src, dst, expected", [
    ("pytest_ascend_oss.suites.precision.run", "pytest_ascend_oss.suites.long_context.cases",
     "another suite"),
    ("pytest_ascend_oss.suites.precision.run", "pytest", "pytest"),
    ("pytest_ascend_oss.suites.precision.run", "pytest_ascend_oss.embedded.model", "embedded"),
    ("pytest_ascend_oss.transport.http", "pytest_ascend_oss.server.launcher", "transport"),
    ("pytest_ascend_oss.server.launcher", "pytest_ascend_oss.plugin", "plugin"),
    ("pytest_ascend_oss.gates", "pytest_ascend_oss.metrics.latency", "nothing"),
    ("pytest_ascend_oss.metrics.text", "pytest_ascend_oss.gates", "nothing"),
])
def test_the_check_sees_each_forbidden_direction(src, dst, expected):
    assert expected in (_violation(src, dst) or "")


def test_the_check_resolves_relative_imports():
    graph = _graph()
    run = dict(graph["pytest_ascend_oss.suites.precision.run"])
    assert "pytest_ascend_oss.gates" in run and "pytest_ascend_oss.suites.precision.collect" in run

"""benchmarks/ are run by hand, never by CI: each script still imports, and every call it makes
into the package names parameters the callee has (a renamed keyword would otherwise break a
benchmark silently, found only by the next person who runs it)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))


def _load(path: Path):
    sys.path.insert(0, str(BENCHMARKS))  # the scripts import served.py beside them
    try:
        spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # each guards its work behind __main__
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def _package_calls(tree: ast.AST, module) -> list[tuple[int, str, object, list[str]]]:
    """(line, name, callee, keywords) of every call to a name imported from the package."""
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pytest_ascend_oss"):
            for alias in node.names:
                imported[alias.asname or alias.name] = alias.name
    calls = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func, owner = node.func, None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner, name = func.value.id, func.attr
        elif isinstance(func, ast.Name):
            name = func.id
        else:
            continue
        if owner is not None and owner in imported:
            callee = getattr(getattr(module, owner, None), name, None)
        elif owner is None and name in imported:
            callee = getattr(module, name, None)
        else:
            continue
        keywords = [k.arg for k in node.keywords if k.arg is not None]
        if callee is not None and keywords:
            calls.append((node.lineno, name, callee, keywords))
    return calls


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_a_benchmark_imports_and_calls_the_package_as_it_is(path):
    module = _load(path)
    problems = []
    for line, name, callee, keywords in _package_calls(ast.parse(path.read_text()), module):
        try:
            signature = inspect.signature(callee)
        except (TypeError, ValueError):
            continue
        params = signature.parameters
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            continue
        problems += [f"{path.name}:{line}: {name}() has no parameter {k!r}"
                     for k in keywords if k not in params]
    assert not problems, "\n".join(problems)


def test_the_check_sees_a_renamed_keyword(tmp_path):
    script = "from pytest_ascend_oss.gates import Gate\nGate('x', 1.0, '>=', 1.0, sourse='y')\n"
    tree = ast.parse(script)
    module = type(sys)("fake")
    from pytest_ascend_oss.gates import Gate

    module.Gate = Gate
    (_line, name, callee, keywords), = _package_calls(tree, module)
    assert name == "Gate" and keywords == ["sourse"]
    assert "sourse" not in inspect.signature(callee).parameters

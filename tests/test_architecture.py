"""The shape of the tree (docs/architecture.md): import contracts, no cycles, small modules and rooms."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("worker", "producers")
MAX_MODULE_LINES = 400
MAX_MODULES_PER_FOLDER = 12


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(*ROOTS)


def _package_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Cycles among the children of every package (a child stands for itself and everything in it)."""
    found: list[list[str]] = []
    for package in sorted(m for m in graph.modules if graph.find_children(m)):
        children = graph.find_children(package)

        def owner(module: str) -> str | None:
            return next((c for c in children if module == c or module.startswith(c + ".")), None)

        edges: dict[str, set[str]] = defaultdict(set)
        for child in children:
            for module in (child, *graph.find_descendants(child)):
                for imported in graph.find_modules_directly_imported_by(module):
                    target = owner(imported)
                    if target and target != child:
                        edges[child].add(target)
        state: dict[str, int] = {}

        def visit(node: str, path: list[str]) -> None:
            state[node] = 1
            path.append(node)
            for nxt in sorted(edges[node]):
                if state.get(nxt) == 1:
                    found.append([*path[path.index(nxt):], nxt])
                elif nxt not in state:
                    visit(nxt, path)
            path.pop()
            state[node] = 2

        for child in sorted(children):
            if child not in state:
                visit(child, [])
    return found


def _modules() -> list[Path]:
    return sorted(p for root in ROOTS for p in (REPO / root).rglob("*.py") if "migrations" not in p.parts)


def test_import_contracts_are_kept() -> None:
    """import-linter's contracts in pyproject.toml (layers, CRM, producers, torch, benchmarks) all hold."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_cli_reaches_training_only_inside_its_commands() -> None:
    """The contract ignores worker.cli.commands -> worker.training; this holds it to function-level imports."""
    tree = ast.parse((REPO / "worker" / "cli" / "commands.py").read_text())
    top_level = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    named = [alias.name for node in top_level for alias in node.names] + [
        node.module or "" for node in top_level if isinstance(node, ast.ImportFrom)
    ]
    assert [name for name in named if name.startswith("worker.training") or name in ("torch", "transformers")] == []


def test_no_import_cycle_between_sibling_packages_or_modules() -> None:
    """No package (nor module) imports a sibling that imports it back, directly or through others."""
    assert _package_cycles(_graph()) == []


def test_the_cycle_finder_sees_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A two-package cycle in a scratch tree is reported, so the check above can fail."""
    for name, imports in (("a", "from demo_pkg.b import y\nx = 1\n"), ("b", "from demo_pkg.a import x\ny = 2\n")):
        (tmp_path / "demo_pkg" / name).mkdir(parents=True)
        (tmp_path / "demo_pkg" / name / "__init__.py").write_text(imports)
    (tmp_path / "demo_pkg" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    cycles = _package_cycles(grimp.build_graph("demo_pkg", cache_dir=None))
    assert cycles and set(cycles[0]) == {"demo_pkg.a", "demo_pkg.b"}


def test_modules_stay_small() -> None:
    """No module of worker/ or producers/ is longer than MAX_MODULE_LINES lines."""
    long = {str(p.relative_to(REPO)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_folders_hold_about_a_dozen_modules() -> None:
    """No folder holds more than MAX_MODULES_PER_FOLDER modules besides its __init__."""
    counts: dict[str, int] = defaultdict(int)
    for path in _modules():
        if path.name != "__init__.py":
            counts[str(path.parent.relative_to(REPO))] += 1
    assert {folder: n for folder, n in counts.items() if n > MAX_MODULES_PER_FOLDER} == {}

"""The house's layout: one package per concern, imports running downwards only.

Every import is counted, those inside functions too: a lazy import hides a dependency from
the reader, not from the layering.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

# Lowest first. A package may import itself and the packages before it, never one after it.
LAYERS = (
    "landscape",  # the engine: plain PyTorch
    "lightning_modules",  # networks, data, init interventions, the config check
    "runs",  # one run folder and the store of them
    "callbacks",  # Lightning adapters over runs/ and landscape/
    "paper",  # the paper's catalogue and its reports
    "sweeps",  # launching
    "hydra_plugins",  # Hydra's handle on the launcher
)
# Entry points: they may import any package, and no package imports them.
ENTRY_POINTS = ("run", "benchmarks", "tests", "examples")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the project modules it imports, over the layered packages and run.py."""
    files = [root / "run.py"] if (root / "run.py").exists() else []
    files += [f for package in LAYERS for f in sorted((root / package).rglob("*.py"))]
    modules = {module_name(f, root): f for f in files}
    return {
        name: {m for m in imported_modules(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def layer_of(module: str) -> int | None:
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, imports in graph.items():
        own = layer_of(module)
        for imported in imports:
            theirs = layer_of(imported)
            if own is None:
                continue
            if theirs is None or theirs > own:
                found.append(f"{module} imports {imported}")
    return sorted(found)


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle of the import graph once (as the path that closes it)."""
    cycles, state = [], {}

    def visit(module: str, stack: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                cycles.append([*stack[stack.index(imported) :], imported])
            elif imported not in state:
                visit(imported, [*stack, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_module_imports_a_package_above_it():
    assert upward_imports(import_graph(REPO)) == []


def test_no_import_cycles():
    assert import_cycles(import_graph(REPO)) == []


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path):
    for package in ("landscape", "runs"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "landscape" / "engine.py").write_text("def f():\n    from runs.store import load\n")
    (tmp_path / "runs" / "store.py").write_text("import landscape.engine\n")
    graph = import_graph(tmp_path)
    assert upward_imports(graph) == ["landscape.engine imports runs.store"]
    assert import_cycles(graph) == [["landscape.engine", "runs.store", "landscape.engine"]]


def test_largest_package_holds_at_most_30_percent_of_the_code():
    lines = {
        package: sum(len(f.read_text().splitlines()) for f in (REPO / package).rglob("*.py"))
        for package in (*LAYERS, "benchmarks")
    }
    total = sum(lines.values()) + len((REPO / "run.py").read_text().splitlines())
    largest = max(lines, key=lines.get)
    assert lines[largest] / total <= 0.30, (largest, lines)

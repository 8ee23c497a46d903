"""The layout's import rule, read from the code's own import statements (ast, not our modules).

Folders are layers; a module may import its own folder and the folders of lower layers only:

    schemas  <-  udfs  <-  flink_jobs  <-  local_kinesis, serving, deploy  <-  simulator
             <-  training  <-  local_runs  <-  bench, tests

So everything may import udfs/ and schemas/, the job (flink_jobs/) imports only those, and nothing
the job ships imports the simulator, the stand-ins, training or the local runners. Imports inside
functions count too (an import moved into a function still ties two modules), and no module
imports itself back through others.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS: dict[str, int] = {
    "schemas": 0,
    "udfs": 1,
    "flink_jobs": 2,
    "local_kinesis": 3,
    "serving": 3,
    "deploy": 3,
    "simulator": 4,
    "training": 5,
    "local_runs": 6,
    "bench": 7,
    "tests": 7,
}
# What the job's Python workers and the MSF zip carry: never more than these folders.
SHIPPED = ("flink_jobs", "udfs", "schemas")


def project_modules() -> dict[str, Path]:
    """{dotted module name: file} for every Python file of the project's folders."""
    modules = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if any(part in ("node_modules", "target", "__pycache__") for part in path.parts):
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = project_modules()


def imported_modules(name: str, path: Path) -> set[str]:
    """The project modules a file imports, anywhere in it (a package import counts as its __init__)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports pkg.mod when that is a module, else a name of pkg.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def test_the_project_is_read_whole() -> None:
    assert {"flink_jobs.pipeline", "udfs.rules", "schemas.segment_windows", "simulator.market", "training.train",
            "local_runs.demo", "local_kinesis.standins", "serving.floor_reader"} <= set(MODULES)
    assert "udfs.rules" in GRAPH["flink_jobs.pipeline"]  # the reader sees imports at all


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down_the_layers(name: str) -> None:
    layer = LAYERS[name.split(".")[0]]
    upward = sorted(m for m in GRAPH[name] if LAYERS[m.split(".")[0]] > layer)
    assert not upward, f"{MODULES[name].relative_to(ROOT)} imports {upward}, which sit above it"


def test_what_the_job_ships_imports_only_what_it_ships() -> None:
    for name, imports in GRAPH.items():
        if name.split(".")[0] in SHIPPED:
            outside = sorted(m for m in imports if m.split(".")[0] not in SHIPPED)
            assert not outside, f"{name} imports {outside}: the MSF zip does not carry them"


def test_no_import_circles() -> None:
    # Tarjan's strongly connected components over the module graph: any component of more than
    # one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(GRAPH[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert not circles, f"import circles: {circles}"

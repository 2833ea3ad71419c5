"""The package's layers point one way: no module imports, directly or through others, a module that
imports it back (lazy imports inside functions included: a cycle is a cycle whenever it runs)."""

import ast
from pathlib import Path

import ganeval

PACKAGE = Path(ganeval.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            for t in targets:
                if t in modules and t != name:
                    if t + "." in name + ".":  # a module importing its own package's __init__
                        continue
                    graph[name].add(t)
                    break  # `from pkg import submodule`: the submodule, not also the package
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == "open":
                found.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_later_stages_never_reach_back_into_training():
    graph = import_graph()

    def reach(m, seen=None):
        seen = set() if seen is None else seen
        for t in graph[m]:
            if t not in seen:
                seen.add(t)
                reach(t, seen)
        return seen

    for stage in ("ganeval.bench_report", "ganeval.results", "ganeval.evaluate", "ganeval.regression", "ganeval.tables"):
        assert "ganeval.train.trainer" not in reach(stage), stage

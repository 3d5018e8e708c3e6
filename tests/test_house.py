"""The house rules a reader can check (issue 21): no import cycle between the library's modules, and the training
code's functions fit on a screen."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_TRAIN_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path, modules: set[str]) -> set[str]:
    """The got modules a module imports when it is imported (imports inside functions are deferred: not edges).
    `from package import module` is an edge to the module, `from module import name` to the module."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found |= {sub} if sub in modules else {node.module} & modules
    return found


def test_no_import_cycles():
    paths = {module_name(p): p for p in (ROOT / "got").rglob("*.py")}
    graph = {name: top_level_imports(path, set(paths)) - {name} for name, path in paths.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            assert state.get(dep) != 1, "import cycle: " + " -> ".join(trail[trail.index(dep) :] + [name, dep])
            if dep not in state:
                visit(dep, trail + [name] if dep not in trail else trail)
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_training_functions_fit_on_a_screen():
    long = []
    for path in (ROOT / "got/train").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_TRAIN_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long

"""The shape of the house (STYLE.md), checked from the source: no import cycle,
backend by concern with few modules at its top, small app files, no gradio in
backend/, tests taking shared helpers only from tests/support/."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_CODE = [ROOT / "app.py", *sorted((ROOT / "ui").rglob("*.py")),
            *sorted((ROOT / "backend").rglob("*.py"))]
MAX_LINES = 350
MAX_BACKEND_TOP = 6


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module a file imports (inside functions too), as dotted names;
    ``from a import b`` also names ``a.b`` (it may be a module)."""
    package = module_of(path) if path.name == "__init__.py" else module_of(path).rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def graph(files: list[Path]) -> dict[str, set[str]]:
    """module -> the modules of ``files`` it imports (package faces left out:
    an __init__.py that only names its package ties nothing)."""
    ours = {module_of(f): f for f in files if f.name != "__init__.py"}
    return {name: {m for m in imported(f) if m in ours and m != name} for name, f in ours.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def python_files(*folders: str) -> list[Path]:
    return [f for folder in folders for f in sorted((ROOT / folder).rglob("*.py"))]


def test_no_import_cycle_among_app_ui_backend_and_bench():
    edges = graph([ROOT / "app.py", *python_files("ui", "backend", "bench")])
    assert cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_backend_is_grouped_by_concern_with_few_modules_at_its_top():
    top = sorted(p.name for p in (ROOT / "backend").glob("*.py"))
    assert len(top) <= MAX_BACKEND_TOP, top


def test_no_app_file_is_over_the_line_limit():
    long = {str(f.relative_to(ROOT)): n for f in APP_CODE
            if (n := len(f.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_backend_never_imports_gradio():
    users = [str(f.relative_to(ROOT)) for f in python_files("backend")
             if any(m.split(".")[0] in ("gradio", "gradio_client") for m in imported(f))]
    assert users == []


def test_tests_take_shared_helpers_only_from_tests_support():
    strays = {}
    for f in python_files("tests"):
        wrong = sorted(m for m in imported(f) if m.startswith("tests.")
                       and m.split(".")[1] != "support")
        if wrong:
            strays[str(f.relative_to(ROOT))] = wrong
    assert strays == {}

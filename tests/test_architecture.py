"""The package's import structure: no import cycle, and the library never imports the scripts.

Every ``import`` and ``from … import`` statement of every module under ``ntajax/`` is read with
:mod:`ast` — at module level, inside functions and under ``if TYPE_CHECKING:`` alike — and
resolved to the module it names. ``from package import name`` is an edge to
``package.name`` when that is a module and to ``package`` (its ``__init__``) otherwise.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "ntajax"
SCRIPTS = ("figures", "sweeps")


def _module_name(path: pathlib.Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _modules() -> dict[str, pathlib.Path]:
    return {_module_name(path)[0]: path for path in LIBRARY.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """module → the modules it imports (all imports, wherever they stand; third-party kept)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if _module_name(path)[1] else name.rsplit(".", 1)[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module
                for alias in node.names:
                    edges.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among the graph's own modules as [m0, m1, …, m0], or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c", "numpy"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_graph_sees_function_level_and_type_checking_imports(tmp_path):
    # the real graph contains the lazy imports the package makes inside functions
    graph = import_graph()
    assert "diffrax" in set().union(*graph.values())
    assert len(graph) > 40


def test_no_import_cycle_in_the_library():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


@pytest.mark.parametrize("script_package", SCRIPTS)
def test_library_never_imports_the_scripts(script_package):
    offenders = {
        module: sorted(t for t in targets if t == script_package or t.startswith(script_package + "."))
        for module, targets in import_graph().items()
    }
    offenders = {m: t for m, t in offenders.items() if t}
    assert not offenders, f"the library imports the {script_package!r} scripts: {offenders}"

"""How the code is laid out: no module imports another that imports it back (counting imports inside functions),
and the window's modules never load MLX."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "macapp"


def imports() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports, at the top or inside a function."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = module if parts[-1] == "__init__" else module.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [node.module or ""])
                found |= {base.rstrip(".")} | {f"{base}.{alias.name}".replace("..", ".") for alias in node.names}
        graph[module] = found
    return {module: {m for m in found if m in graph and m != module} for module, found in graph.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other round in a circle."""
    reach = {module: set() for module in graph}
    for module in graph:
        todo = list(graph[module])
        while todo:
            other = todo.pop()
            if other not in reach[module]:
                reach[module].add(other)
                todo += graph[other]
    groups = {frozenset({m} | {o for o in reach[m] if m in reach[o]}) for m in graph if m in reach[m]}
    return sorted(sorted(group) for group in groups)


def test_no_module_imports_one_that_imports_it_back():
    assert circles(imports()) == []
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # the check sees one


def test_the_window_never_loads_mlx():
    code = ("import sys, importlib, pkgutil, macapp.ui as ui\n"
            "for m in pkgutil.walk_packages(ui.__path__, 'macapp.ui.'):\n"
            "    if m.name != 'macapp.ui.screenshots': importlib.import_module(m.name)\n"
            "bad = [n for n in sys.modules if n.split('.')[0] in ('mlx', 'mlx_lm', 'torch', 'transformers')]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

"""How the code is laid out: no module imports another that imports it back, the engine, worker and CLI never load Qt,
and the window and `tailor runs` import no module that loads MLX or llama.cpp (counting imports inside functions).

`tailor generate` and `tailor chat` load MLX in their own process on purpose, to stream answers as they come; `tailor
models` asks MLX what this Mac can give its training. Every other heavy step runs in a worker.
"""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "macapp"


def imports(libraries: bool = False) -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports, at the top or inside a function; with
    `libraries`, the other packages it imports too (by their top-level name)."""
    graph, others = {}, {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = module if parts[-1] == "__init__" else module.rsplit(".", 1)[0]
        found, outside = set(), set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [node.module or ""])
                found |= {base.rstrip(".")} | {f"{base}.{alias.name}".replace("..", ".") for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                outside.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                outside |= {alias.name.split(".")[0] for alias in node.names}
        graph[module], others[module] = found, outside
    return {module: {m for m in found if m in graph and m != module} | (others[module] if libraries else set())
            for module, found in graph.items()}


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


def loaded_by(imports: str) -> set[str]:
    """The top-level packages a fresh Python holds after running `imports`."""
    code = (f"import sys, pkgutil, importlib\n{imports}\n"
            "print(' '.join({name.split('.')[0] for name in sys.modules}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_the_engine_the_worker_and_the_cli_never_load_qt():
    loaded = loaded_by("import macapp.engine as e\n"
                       "for m in pkgutil.walk_packages(e.__path__, 'macapp.engine.'): importlib.import_module(m.name)\n"
                       "import macapp.worker, macapp.cli, macapp.jobs")
    assert not loaded & {"PySide6", "PyQt5", "PyQt6", "pyqtgraph"}


def test_the_window_never_loads_mlx():
    loaded = loaded_by("import macapp.ui as ui\n"
                       "for m in pkgutil.walk_packages(ui.__path__, 'macapp.ui.'):\n"
                       "    if m.name != 'macapp.ui.screenshots': importlib.import_module(m.name)")
    assert "PySide6" in loaded and not loaded & {"mlx", "mlx_lm", "torch", "transformers"}


HEAVY = {"mlx", "mlx_lm", "llama_cpp", "torch", "transformers"}  # the libraries a window must not wait for


def heavy_modules(graph: dict[str, set[str]]) -> set[str]:
    """The modules that import a heavy library, or a module that does, anywhere in their code."""
    heavy = {module for module, found in graph.items() if found & HEAVY}
    while more := {module for module, found in graph.items() if found & heavy} - heavy:
        heavy |= more
    return heavy


def test_the_window_and_the_runs_listing_import_no_module_that_loads_mlx():
    graph = imports(libraries=True)
    heavy = heavy_modules(graph)
    light = [m for m in graph if m.startswith("macapp.ui") or m == "macapp.cli.runs"]
    assert {m: sorted(graph[m] & (heavy | HEAVY)) for m in light if graph[m] & (heavy | HEAVY)} == {}
    assert {"macapp.engine.models.obtain", "macapp.engine.export.fusing", "macapp.engine.evaluate.generation"} <= heavy
    assert heavy_modules({"a": {"b"}, "b": {"mlx"}, "c": {"a"}, "d": set()}) == {"a", "b", "c"}  # the check sees one

"""The package's structure: a folder per concern, every import pointing down, no circle.

The import graph is read from the source with ``ast`` (every import statement, the lazy
ones inside functions and the ``TYPE_CHECKING`` ones included; the Cython files by their
``import`` lines), so a new upward import or circle fails here before anyone reads the code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import fluxjournal

PACKAGE = Path(fluxjournal.__file__).resolve().parent
PACKAGE_NAME = "fluxjournal"
SOURCE = PACKAGE.parent

#: The layers from the top down: a module may import from its own layer (without a circle)
#: and from any layer below it, never from one above. A module matches the longest entry
#: that is it or a package holding it; ``fluxjournal`` itself (the public face) matches
#: only itself, so that a new module of the package is placed here on purpose.
LAYERS = [
    ["fluxjournal.__main__"],
    ["fluxjournal.commands"],
    ["fluxjournal.bench"],
    ["fluxjournal.reading"],
    ["fluxjournal.ingestion"],
    ["fluxjournal.storage"],
    ["fluxjournal.testing"],
    ["fluxjournal", "fluxjournal.dropin"],
    ["fluxjournal.journal", "fluxjournal.resource"],
    ["fluxjournal._switch"],
    ["fluxjournal._core", "fluxjournal._coreparts", "fluxjournal._pycore"],
    ["fluxjournal.joblist"],
    ["fluxjournal.wire"],
    ["fluxjournal.errors", "fluxjournal.jobid"],
]

#: Longest a Python module of the package may grow (the Cython parts aside).
MAX_MODULE_LINES = 800

_CYTHON_IMPORT = re.compile(
    r"^\s*(?:from\s+(fluxjournal[\w.]*)\s+c?import\s+\(?([\w, ]*)|"
    r"import\s+(fluxjournal[\w.]*))",
    re.M,
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in (".py", ".pyx", ".pxi") and "__pycache__" not in path.parts:
            found[module_name(path)] = path
    return found


def _target(base: str, name: str, known: dict[str, Path]) -> str:
    """``from base import name``: the module ``name`` when it is one, else ``base``."""
    candidate = f"{base}.{name}"
    return candidate if candidate in known else base


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its text."""
    text = path.read_text(encoding="utf-8")
    found: set[str] = set()
    if path.suffix in (".pyx", ".pxi"):
        for base, names, plain in _CYTHON_IMPORT.findall(text):
            if plain:
                found.add(plain)
            for item in names.split(","):
                item = item.strip().split(" as ")[0]
                if item:
                    found.add(_target(base, item, known))
        return {module for module in found if module.startswith("fluxjournal")}
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(_target(base, alias.name, known))
    return {module for module in found if module.split(".")[0] == "fluxjournal"}


def layer_of(module: str) -> int:
    best, depth = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            holds = prefix != PACKAGE_NAME and module.startswith(prefix + ".")
            if (module == prefix or holds) and len(prefix) > depth:
                best, depth = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer of LAYERS: place it there")
    return best


def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {target for target in imports_of(name, path, known) if target != name}
        for name, path in known.items()
    }


def test_every_module_has_a_layer():
    for module in modules():
        layer_of(module)


def test_a_new_module_needs_a_layer():
    with pytest.raises(AssertionError, match="fluxjournal.newcomer is in no layer"):
        layer_of("fluxjournal.newcomer")
    assert layer_of("fluxjournal.storage.newcomer") == layer_of("fluxjournal.storage")


def test_every_import_points_down():
    upward = [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in graph().items()
        for target in targets
        if layer_of(target) < layer_of(module)
    ]
    assert upward == []


def find_circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, or with a self loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return circles


def test_no_import_circle():
    assert find_circles(graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert find_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_a_lazy_import_counts(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text("def f():\n    from fluxjournal.commands import main\n")
    known = {"fluxjournal.commands.main": path}
    assert imports_of("fluxjournal.wire.mod", path, known) == {"fluxjournal.commands.main"}


def test_every_folder_says_what_lives_there():
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init.relative_to(SOURCE)} has no docstring"


@pytest.mark.parametrize("module", sorted(m for m, p in modules().items() if p.suffix == ".py"))
def test_no_module_over_the_limit(module):
    lines = modules()[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_MODULE_LINES, f"{module}: {lines} lines"


def test_the_engine_does_not_load_the_twin_beside_the_compiled_core():
    """Importing ingestion (its type hints name JobRecord) loads the active core only."""
    import subprocess
    import sys

    pytest.importorskip("fluxjournal._core")
    if fluxjournal.IMPLEMENTATION != "cython":
        pytest.skip("the twin is the active core here")
    code = (
        "import sys, fluxjournal.ingestion.engine, fluxjournal.commands.ingest\n"
        "print(sorted(m for m in sys.modules if m.startswith('fluxjournal._')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['fluxjournal._core', 'fluxjournal._switch']"

"""Architecture rules, checked on the source with ``ast``: the import graph has no cycles, only the
Dask adapter imports ``dask``, and the core imports neither torch nor dask.

The import graph has one node per module under ``src/rankwise`` (a package is its ``__init__``).
Every ``import`` and ``from … import`` counts wherever it stands (module level, inside a function or a
``try``), except in the body of ``if TYPE_CHECKING:``. An edge goes to the module that the statement
makes Python execute or look a name up in:

* ``import a.b.c`` is an edge to ``a.b.c``;
* ``from p import name`` is an edge to the submodule ``p.name`` when ``name`` is one and ``p/__init__``
  does not rebind it to something else (``from . import _checks`` in ``rankwise/foo.py`` is an edge to
  ``rankwise._checks``); otherwise it is an edge to ``p`` itself (``from .linalg import rsvd``, which
  reads the function that ``linalg/__init__`` re-exports, is an edge to ``rankwise.linalg``).

Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``: those are edges too, except to the
packages that contain the importing module (they are already being imported; with those edges every
package whose ``__init__`` imports its own submodules would be a cycle). So ``from ..optim.transforms
import Transform`` in ``rankwise/nn/optimizer.py`` is an edge to ``rankwise.optim.transforms`` and to
``rankwise.optim``, while ``from .transforms import adam`` in ``rankwise/optim/minimize.py`` is an edge to
``rankwise.optim.transforms`` only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "rankwise"
DASK = ("dask", "distributed")
"""Dask's packages (``distributed`` is its scheduler and ``Client``)."""
DASK_ALLOWED = ("rankwise.linalg._dask",)
"""The only modules that may import Dask: the CLI's scheduler and progress bar go through the library too."""


@dataclass(frozen=True)
class Import:
    """One imported module, as written and as resolved to a node of the graph."""

    source: str  # the importing module
    target: str  # the resolved module (any library, not only rankwise)
    line: int


def _module_files(root: Path = SRC / PACKAGE) -> dict[str, Path]:
    """Module name → file, for every ``.py`` file of the package (a package maps to its ``__init__``)."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.setdefault(".".join(parts), path)
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree``, at any depth, skipping ``if TYPE_CHECKING:`` bodies."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _rebound_names(tree: ast.Module) -> set[str]:
    """Names a package ``__init__`` binds to something other than its submodule of that name."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not (node.level == 1 and node.module is None):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _resolve_base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def collect_imports(root: Path = SRC / PACKAGE) -> list[Import]:
    """Every import of every module under ``root``, resolved as the module docstring describes."""
    files = _module_files(root)
    trees = {name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in files.items()}
    rebound = {name: _rebound_names(tree) for name, tree in trees.items() if files[name].name == "__init__.py"}
    out: list[Import] = []
    for module, tree in trees.items():
        is_package = files[module].name == "__init__.py"
        for node in _statements(tree):
            if isinstance(node, ast.Import):
                out.extend(Import(module, alias.name, node.lineno) for alias in node.names)
                continue
            base = _resolve_base(module, is_package, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                is_submodule = sub in files and alias.name not in rebound.get(base, set())
                out.append(Import(module, sub if is_submodule else base, node.lineno))
    return out


def _packages_of(module: str, is_package: bool) -> set[str]:
    """The packages that contain ``module`` (a package contains itself)."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + is_package)}


def import_graph(root: Path = SRC / PACKAGE) -> dict[str, set[str]]:
    """Module → the package's modules it imports (edges to other libraries dropped)."""
    files = _module_files(root)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for imp in collect_imports(root):
        if imp.target not in files:
            continue
        own = _packages_of(imp.source, files[imp.source].name == "__init__.py")
        parents = _packages_of(imp.target, False) - own
        graph[imp.source].update(t for t in {imp.target, *parents} if t in files and t != imp.source)
    return graph


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def _shortest_cycle(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str]:
    """A shortest cycle through ``start`` inside one strongly connected component (breadth first)."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph[node] & within):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if nxt not in parent:
                    parent[nxt] = node
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    return []  # pragma: no cover - every member of a component lies on a cycle


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle through each module that lies on a cycle, deduplicated."""
    cycles: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for comp in _strongly_connected(graph):
        for node in comp:
            cycle = _shortest_cycle(graph, node, set(comp))
            i = cycle.index(min(cycle[:-1]))
            key = tuple(cycle[i:-1] + cycle[:i])
            if key not in seen:
                seen.add(key)
                cycles.append([*key, key[0]])
    return cycles


def _describe(cycles: list[list[str]]) -> str:
    return "\n".join(" -> ".join(c) for c in cycles)


# --------------------------------------------------------------------------- the rules


def test_import_graph_has_no_cycles() -> None:
    graph = import_graph()
    assert {"rankwise", "rankwise.approx", "rankwise.linalg"} <= set(graph)
    cycles = find_cycles(graph)
    assert not cycles, f"import cycles in src/rankwise:\n{_describe(cycles)}"


def test_only_the_dask_adapter_imports_dask() -> None:
    offenders = sorted({f"{imp.source} (line {imp.line}: {imp.target})" for imp in collect_imports()
                        if imp.target.split(".")[0] in DASK and imp.source not in DASK_ALLOWED})
    assert not offenders, "only rankwise.linalg._dask may import dask; found:\n" + "\n".join(offenders)


@pytest.mark.parametrize("module", ["rankwise", "rankwise.linalg"])
def test_core_imports_neither_torch_nor_dask(module: str) -> None:
    code = (f"import sys; import {module}; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'dask', 'distributed'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"import {module} loaded {out.stdout.strip()}"


HEAVY_SCIPY = ("scipy.optimize", "scipy.special", "scipy.integrate", "scipy.stats")


def test_import_rankwise_loads_no_heavy_scipy_module() -> None:
    """``import rankwise`` leaves SciPy's optimize/special/integrate/stats to the functions that need them:
    besides the import time, a process that has loaded scipy.special runs NumPy's large elementwise
    updates measurably slower (benchmarks/bench_optim.py, the pure NumPy Adam step)."""
    code = f"import sys; import rankwise; print(sorted(m for m in {HEAVY_SCIPY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"import rankwise loaded {out.stdout.strip()}"


# --------------------------------------------------------------------------- the checker itself


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_checker_resolves_imports_as_python_does(tmp_path: Path) -> None:
    pkg = _write_package(tmp_path, {
        "__init__.py": "from .a import f as f\nfrom . import sub as sub\n",
        "a.py": "from . import b\ndef f():\n    from .sub import g\n",
        "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\nimport pkg.sub.c\n",
        "sub/__init__.py": "from .c import g as g\n",
        "sub/c.py": "from .. import f\ndef g(): ...\n",
    })
    graph = import_graph(pkg)
    assert graph == {
        "pkg": {"pkg.a", "pkg.sub"},
        "pkg.a": {"pkg.b", "pkg.sub"},  # function-level import counted; `g` is rebound in sub/__init__
        "pkg.b": {"pkg.sub", "pkg.sub.c"},  # TYPE_CHECKING import skipped; `import pkg.sub.c` runs pkg.sub
        "pkg.sub": {"pkg.sub.c"},
        "pkg.sub.c": {"pkg"},  # `f` is re-exported by pkg/__init__, not a submodule
    }
    assert sorted(find_cycles(graph)) == [["pkg", "pkg.a", "pkg.b", "pkg.sub.c", "pkg"],
                                          ["pkg", "pkg.sub", "pkg.sub.c", "pkg"]]


def test_checker_sees_a_lazy_import_that_closes_a_cycle_through_a_package_init(tmp_path: Path) -> None:
    pkg = _write_package(tmp_path, {  # the shape of optim ↔ nn: a lazy import back into the package above
        "__init__.py": "",
        "opt/__init__.py": "from .core import T as T\ndef adapter():\n    from ..nn.adapter import A\n",
        "opt/core.py": "class T: ...\n",
        "nn/__init__.py": "from .adapter import A as A\n",
        "nn/adapter.py": "from ..opt.core import T\nclass A: ...\n",
    })
    graph = import_graph(pkg)
    assert graph["pkg.nn.adapter"] == {"pkg.opt", "pkg.opt.core"}  # importing opt.core runs opt/__init__
    assert graph["pkg.opt"] == {"pkg.opt.core", "pkg.nn", "pkg.nn.adapter"}
    assert ["pkg.nn.adapter", "pkg.opt", "pkg.nn.adapter"] in find_cycles(graph)


def test_checker_passes_a_layered_package(tmp_path: Path) -> None:
    pkg = _write_package(tmp_path, {
        "__init__.py": "from . import a as a\nfrom .b import h as h\n",
        "a.py": "from . import b\n",
        "b.py": "import numpy\ndef h(): ...\n",
    })
    assert find_cycles(import_graph(pkg)) == []


LAYERS = {
    "policy": ("rankwise._array", "rankwise._checks", "rankwise._files", "rankwise._numerics", "rankwise._threads",
               "rankwise.random", "rankwise.factors"),
    "inputs": ("rankwise.linalg._operator", "rankwise.linalg._dask", "rankwise.linalg._inputs", "rankwise.io"),
    "front ends": ("rankwise.approx", "rankwise.engine", "rankwise.plot", "rankwise.cli", "rankwise.__main__"),
}
"""The README's layers; every other module of the package is an algorithm."""


def _layer(module: str) -> int:
    order = ("policy", "inputs", "algorithms", "front ends")
    for name, prefixes in LAYERS.items():
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return order.index(name)
    return 2 if module != PACKAGE else 3  # the package's __init__ re-exports everything: a front end


def test_layers_import_only_the_layers_above_them() -> None:
    """A module imports from its own layer or the ones above it (README, Architecture).

    Only the modules named in import statements count here: the parent packages that Python
    initialises on the way (``rankwise.linalg`` for ``rankwise.linalg._dask``) are the cycle
    test's concern."""
    files = _module_files()
    wrong = sorted({f"{imp.source} -> {imp.target}" for imp in collect_imports()
                    if imp.target in files and _layer(imp.target) > _layer(imp.source)})
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)

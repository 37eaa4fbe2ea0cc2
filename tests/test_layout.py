"""The package's layout rules, read from its sources (docs/architecture.md).

- no import cycle between the package's modules, counting imports inside functions;
- the pure parts (``_config``, ``_state``, ``_files``) never import the live ones (``_keras``, ``_models``,
  ``_cli``), and each part imports only the parts below it;
- an import inside a function says why in a comment (an optional or heavy dependency, import-time speed);
- every container module offers the one interface and is listed in the registry.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
from typing import Dict, List, Set, Tuple

import pytest

import kerasopt_compat

PACKAGE = pathlib.Path(kerasopt_compat.__file__).parent
NAME = "kerasopt_compat"

#: The parts, bottom up: a module may import its own part and the parts before it, never one after.
#: ``_errors``/``_optional``/``fixes`` are shared by all (``base``); the top level (``__init__``,
#: ``__main__``, ``autoinstall``) may import anything.
LAYERS = ("base", "_config", "_state", "_files", "_keras", "_models", "_cli")
PURE = ("_config", "_state", "_files")
BASE = frozenset(["_errors", "_optional", "fixes"])


def _modules() -> Dict[str, pathlib.Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [NAME] + list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(module: str, path: pathlib.Path) -> List[Tuple[str, int, bool]]:
    """(imported package module, line, inside a function) for every import of the package's own modules."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    inside: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update(id(sub) for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom)))
    out = []
    for node in ast.walk(tree):
        targets: List[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            if not stem.startswith(NAME):
                continue
            for alias in node.names:  # "from . import x": x may be a module
                candidate = stem + "." + alias.name
                targets.append(candidate if candidate in MODULES else stem)
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names if alias.name.startswith(NAME)]
        for target in targets:
            if target in MODULES and target != module:
                out.append((target, node.lineno, id(node) in inside))
    return out


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _part(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__init__", "__main__", "autoinstall"):
        return "top"
    return "base" if parts[1] in BASE else parts[1]


def test_every_module_belongs_to_a_part():
    for module in MODULES:
        assert _part(module) in LAYERS + ("top",), "%s is in no part of docs/architecture.md" % module
    assert {_part(m) for m in MODULES} >= set(LAYERS)


def test_no_import_cycle():
    """Tarjan's strongly connected components over every import, inside functions too."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target, _line, _inside in GRAPH.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in MODULES:
        if module not in index:
            visit(module)
    assert cycles == []


def test_each_part_imports_only_the_parts_below_it():
    wrong = []
    for module, imports in GRAPH.items():
        part = _part(module)
        if part == "top":
            continue
        for target, line, _inside in imports:
            other = _part(target)
            if other == "top" and target == NAME:
                continue  # __version__ from the package itself
            if other == "top" or LAYERS.index(other) > LAYERS.index(part):
                wrong.append("%s:%d imports %s" % (module, line, target))
    assert wrong == []


def test_pure_parts_never_import_the_live_ones():
    for module, imports in GRAPH.items():
        if _part(module) in PURE + ("base",):
            live = [t for t, _line, _inside in imports if _part(t) in ("_keras", "_models", "_cli")]
            assert live == [], module


def test_an_import_inside_a_function_says_why():
    """Only an optional or heavy dependency or import-time speed justifies one; the comment says which."""
    silent = []
    for path in MODULES.values():
        lines = path.read_text().split("\n")
        tree = ast.parse("\n".join(lines))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    here = lines[sub.lineno - 1]
                    above = lines[sub.lineno - 2].strip()
                    if "#" not in here and not above.startswith("#"):
                        silent.append("%s:%d %s" % (path.relative_to(PACKAGE), sub.lineno, here.strip()))
    assert sorted(set(silent)) == []


def test_every_container_offers_the_interface_and_is_registered():
    from kerasopt_compat._files import base, registry

    found = []
    for module in MODULES:
        if not module.startswith(NAME + "._files."):
            continue
        mod = importlib.import_module(module)
        for value in vars(mod).values():
            if isinstance(value, type) and issubclass(value, base.Container) and value is not base.Container:
                if value.__module__ == module:
                    found.append(value)
    assert sorted(c.__name__ for c in found) == sorted(type(c).__name__ for c in registry.CONTAINERS)
    for cls in found:
        for method in ("claims", "read_meta", "write"):
            assert getattr(cls, method) is not getattr(base.Container, method), (cls, method)
        assert cls.format and cls.label
        assert registry.BY_FORMAT[cls.format].__class__ is cls


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _part(m) in PURE))
def test_pure_modules_import_without_tensorflow(module):
    """A pure module's own imports bring in neither TensorFlow, Keras nor numpy (checked from its source)."""
    heavy = ("tensorflow", "keras", "tf_keras", "numpy", "jax", "torch")
    tree = ast.parse(MODULES[module].read_text())
    for node in tree.body:  # module level only; inside functions they are lazy by design
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] in heavy for a in node.names), module
        if isinstance(node, ast.ImportFrom) and not node.level:
            assert (node.module or "").split(".")[0] not in heavy, module

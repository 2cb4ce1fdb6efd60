"""The package's import rules (docs/architecture.md), checked on the source itself."""

from __future__ import annotations

import ast
import pkgutil
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import metaflow

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = "airflow_provider_metaflow"
EXTENSION = "metaflow_extensions.airflow_provider_metaflow.plugins"
CONTRACT = f"{EXTENSION}.contract"
WIRING = f"{EXTENSION}.wiring"  # the step wiring rule: the compiler writes it, the start task checks it
SHARED = (CONTRACT, WIRING)  # the extension's modules the provider may import
# Public Metaflow beyond `from metaflow import ...`: errors, the extension decorator bases, cards.
PUBLIC_METAFLOW_MODULES = {"exception", "decorators", "cards"}
ADAPTERS = {
    f"{EXTENSION}.metaflow_adapter",
    f"{EXTENSION}.metaflow_deploy_adapter",
    f"{PROVIDER}.sensors.metaflow_client",
    # Metaflow's Deployer API is extended by subclassing its runner classes.
    f"{EXTENSION}.airflow_deployer",
    f"{EXTENSION}.airflow_deployer_objects",
}


def _modules() -> dict[str, Path]:
    found = {}
    for base in (ROOT / PROVIDER, ROOT / "metaflow_extensions"):
        for path in base.rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(module: str, *, module_level_only: bool = False, typing: bool = False) -> Iterator[str]:
    """Modules `module` imports when it runs; with `typing`, also those under `if TYPE_CHECKING:`."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]

    def visit(nodes: list[ast.stmt], depth: int) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node) and not typing:
                continue
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                yield base
                yield from (f"{base}.{alias.name}" for alias in node.names)
            if module_level_only and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if isinstance(node, ast.ClassDef):
                    yield from visit(node.body, depth + 1)
                continue
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    yield from visit([child for child in children if isinstance(child, ast.stmt)], depth + 1)
            if isinstance(node, ast.Try):
                for handler in node.handlers:
                    yield from visit(handler.body, depth + 1)

    yield from visit(tree.body, 0)


def _internal(names: Iterator[str]) -> set[str]:
    return {name for name in names if name in MODULES}


def test_every_metaflow_module_is_banned_outside_the_adapters_unless_public() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    banned = set(config["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"])
    submodules = {module.name for module in pkgutil.iter_modules(metaflow.__path__)}

    unbanned = {f"metaflow.{name}" for name in submodules - PUBLIC_METAFLOW_MODULES} - banned
    assert not unbanned, f"add these Metaflow modules to the banned-api list in pyproject.toml: {unbanned}"
    ignores = config["tool"]["ruff"]["lint"]["per-file-ignores"]
    exempt = {path for path, rules in ignores.items() if "TID251" in rules}
    assert exempt == {str(MODULES[name].relative_to(ROOT)) for name in ADAPTERS}


def test_the_provider_imports_only_the_contract_and_the_wiring_rule_from_the_extension() -> None:
    for module in MODULES:
        if module.startswith(PROVIDER):
            shared = {name for name in _imports(module) if name.startswith("metaflow_extensions")}
            other = {name for name in shared if name != EXTENSION and not name.startswith(SHARED)}
            assert not other, f"{module} imports {other} of the extension"


def test_only_the_extensions_cli_and_deployer_import_the_provider() -> None:
    importers = {
        module
        for module in MODULES
        if module.startswith("metaflow_extensions")
        and any(name.startswith(PROVIDER) for name in _imports(module))
    }
    assert importers == {f"{EXTENSION}.airflow_cli", f"{EXTENSION}.airflow_deployer_objects"}


def test_what_a_pod_loads_from_source_and_the_shared_modules_import_only_the_standard_library() -> None:
    """The contract and the wiring rule are shared by both sides; the adapters load Metaflow on
    first use, so importing them never runs Metaflow's plugin loading (which imports the
    extension), and a pod can load the run-time adapter from its source."""
    for module in (*SHARED, f"{EXTENSION}.metaflow_adapter", f"{EXTENSION}.metaflow_deploy_adapter"):
        for name in _imports(module, module_level_only=True):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__", f"{module} imports {name}"
    for module in (*SHARED, f"{EXTENSION}.pod_bootstrap"):  # nothing else, also lazily
        for name in _imports(module):
            assert name.split(".")[0] in sys.stdlib_module_names | {"__future__"}, f"{module} imports {name}"


def test_no_two_modules_depend_on_each_other_even_through_others() -> None:
    """Imports point one way, also the lazy ones and those made for type checking only."""
    graph = {module: _internal(_imports(module, typing=True)) - {module} for module in MODULES}
    # A package's __init__ is imported with each of its modules; edges to it are not a cycle.
    graph = {
        module: {t for t in targets if MODULES[t].name != "__init__.py"} for module, targets in graph.items()
    }
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)

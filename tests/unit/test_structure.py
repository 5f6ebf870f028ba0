"""The package's shape: imports run one way through the layers, with no cycle; modules and
functions stay small enough to read (docs/design.md has the picture)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "vabatch"

# Bottom to top: a module may import from its own layer and the layers below it, never
# from above. Within a layer, no cycles either (checked for the whole graph).
LAYERS = (
    ("vabatch", "vabatch.errors"),  # the package root (its version) and the error family
    ("vabatch.fsutil",),
    ("vabatch.vision",),
    ("vabatch.media", "vabatch.sample"),
    ("vabatch.ocr_engines",),
    ("vabatch.db",),
    ("vabatch.dataroot",),
    ("vabatch.stages",),
    ("vabatch.engine",),
    ("vabatch.tools",),
    ("vabatch.api",),
    ("vabatch.cli", "vabatch.__main__"),
)
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    best, layer = "", -1
    for number, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > len(best) and (prefix != "vabatch" or
                                                        module == "vabatch"):
                best, layer = prefix, number
    return layer


def imports_of(module: str) -> set[str]:
    """The vabatch modules ``module`` imports, at the top or inside functions."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n if n in MODULES else node.module for n in names]
        else:
            continue
        found.update(n for n in names if n in MODULES)
    found.discard(module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_belongs_to_a_layer():
    assert [m for m in MODULES if layer_of(m) < 0] == []


def test_imports_run_down_the_layers_only():
    upward = sorted(f"{module} (layer {layer_of(module)}) imports {target} "
                    f"(layer {layer_of(target)})"
                    for module, targets in GRAPH.items() for target in targets
                    if layer_of(target) > layer_of(module))
    assert upward == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_there_is_no_import_cycle():
    assert find_cycle(GRAPH) is None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_layer_check_sees_an_upward_import():
    assert layer_of("vabatch.stages.ocr") < layer_of("vabatch.engine.worker")
    assert layer_of("vabatch.vision.caption_spans") < layer_of("vabatch.ocr_engines.ppocr6")
    assert "vabatch.stages.base" in GRAPH["vabatch.engine.model"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_and_functions_stay_short(module):
    text = MODULES[module].read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    long = [f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
            for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []

"""The layout holds: imports point one way, modules stay small, pages stay in templates.

commands → io / contract / registry / reports / synthetic → models → features → configs.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("configs", "features", "models", "pipeline")
MAX_LINES = 600
# the rooms of pipeline/ below the commands
SERVICES = ("io", "contract", "registry", "reports", "synthetic")


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every project module the file imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in PACKAGES}


def _layer(module: str) -> tuple[int, str]:
    """(rank, room): a module may import its own room and lower ranks only."""
    parts = module.split(".")
    top = parts[0]
    if top == "configs":
        return 0, "configs"
    if top == "features":
        return 1, "features"
    if top == "models":
        return 2, "models"
    if len(parts) > 1 and parts[1] in SERVICES:
        return 3, parts[1]
    return 4, "commands"


def _allowed(importer: str, imported: str) -> bool:
    rank, room = _layer(importer)
    other_rank, other_room = _layer(imported)
    if other_rank < rank:
        return True
    if other_rank == rank:
        # the services may use each other (e.g. the registry writes a table with io);
        # a command uses the shared command helpers, never another command
        if rank == 4:
            # the CLI dispatches to the commands, and the demo runs them in turn
            composes = importer in ("pipeline.cli", "pipeline.commands.demo")
            return imported in ("pipeline", "pipeline.commands", "pipeline.commands.inputs") or (
                composes and imported.startswith("pipeline.commands")
            )
        return True
    return False


def _known_module(name: str) -> bool:
    """Only names that are modules (``from a.b import c`` also yields ``a.b.c``)."""
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_imports_point_one_way():
    wrong = []
    for path in _sources():
        importer = _module(path)
        for imported in sorted(_imports(path)):
            if _known_module(imported) and not _allowed(importer, imported):
                wrong.append(f"{importer} imports {imported}")
    assert not wrong, "imports against the direction of the layers:\n" + "\n".join(wrong)


def test_features_models_and_configs_never_import_pipeline():
    for path in _sources():
        if _module(path).split(".")[0] in ("configs", "features", "models"):
            assert not [m for m in _imports(path) if m.startswith("pipeline")], path


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_the_line_limit(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines (at most {MAX_LINES})"


DIVIDER = re.compile(r"^\s*#\s*-{4,}", re.M)


def test_no_divider_comments_stand_in_for_modules():
    found = [str(p.relative_to(ROOT)) for p in _sources() if DIVIDER.search(p.read_text("utf-8"))]
    assert not found, f"split these into modules instead of dividers: {found}"


MARKUP = re.compile(
    r"<\s*/?\s*(html|head|body|div|table|thead|tbody|tr|td|th|style|script|section|span|ul|li|"
    r"nav|main|header|footer|svg|figure|details|summary|button|input|select|label|h[1-6])\b"
    r"|\bfunction\s*\(|\{\s*[a-z-]+\s*:\s*[^}]*;\s*\}",
    re.I,
)


def _string_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_html_css_or_javascript_inside_python_source():
    found = []
    for path in _sources():
        for text in _string_constants(path):
            hit = MARKUP.search(text)
            if hit:
                found.append(f"{path.relative_to(ROOT)}: {hit.group(0)!r}")
    assert not found, "markup belongs in templates and static files:\n" + "\n".join(found)


def test_the_layer_rule_refuses_what_it_should():
    assert not _allowed("features.labels", "models.backtest")
    assert not _allowed("models.caseload", "pipeline.registry.tracking")
    assert not _allowed("pipeline.registry.serving", "pipeline.commands.score")
    assert not _allowed("pipeline.commands.promote", "pipeline.commands.train")
    assert _allowed("pipeline.commands.promote", "pipeline.commands.inputs")
    assert _allowed("pipeline.cli", "pipeline.commands.train")
    assert _allowed("models.caseload", "features.labels")

"""The plugin's folders by role and the one-way imports between them (read from the source, no QGIS)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "qgis_plugin" / "earth4d"
ALLOWED = {
    "core": {"core"},
    "layers": {"core", "layers"},
    "gui": {"core", "layers", "gui"},
    "processing": {"core", "layers", "processing"},
}
"""Which of the plugin's folders the modules of each folder may import."""


def _plugin_imports(path: Path) -> set[str]:
    """What ``path`` imports from the plugin (relative imports), as dotted names under ``earth4d``."""
    package = list(path.relative_to(PLUGIN).parent.parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            module = [*base, *([node.module] if node.module else [])]
            found.add(".".join(module))
            found.update(".".join([*module, alias.name]) for alias in node.names)  # a submodule or a name
    return found


def test_only_the_entry_points_are_at_the_top_level() -> None:
    top = sorted(p.name for p in PLUGIN.glob("*.py"))
    assert top == ["__init__.py", "plugin.py"]
    folders = sorted(p.name for p in PLUGIN.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == sorted(ALLOWED)


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_folders_import_only_the_folders_below_them(folder: str) -> None:
    bad = {
        f"{path.relative_to(PLUGIN)} imports {name}"
        for path in sorted((PLUGIN / folder).glob("*.py"))
        for name in _plugin_imports(path)
        if name.split(".")[0] not in ALLOWED[folder]
    }
    assert not bad, sorted(bad)


def test_relative_imports_resolve_to_the_plugin_modules() -> None:
    """The check above would pass vacuously if it misread the imports; these are known ones."""
    assert "gui.dialog" in _plugin_imports(PLUGIN / "plugin.py")  # a lazy import inside a method
    assert "core.errors" in _plugin_imports(PLUGIN / "core" / "request.py")  # from .errors import ...
    assert {"core.settings", "layers.results"} <= _plugin_imports(PLUGIN / "layers" / "live.py")

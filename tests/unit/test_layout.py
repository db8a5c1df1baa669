"""The tree keeps its promises: the translation core does no I/O, only the shell does
HTTP, and the fake Glance is an independent check of the proxy (it imports none of it)."""

import ast
from pathlib import Path

import pytest

PROXY = Path(__file__).resolve().parents[2] / "proxy"
IO = {"aiohttp", "asyncio", "multidict", "socket", "yarl", "uvloop"}


def imports(path: Path) -> set[str]:
    """The absolute names of the modules ``path`` imports (relative imports resolved)."""
    package = ["proxy", *path.relative_to(PROXY).parent.parts]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            found.add(".".join(base + ([node.module] if node.module else [])))
    return found


def test_relative_imports_are_resolved():
    path = PROXY / "fake_glance" / "routes.py"
    assert {"proxy.fake_glance.errors", "aiohttp"} <= imports(path)


def modules(folder: str) -> list[Path]:
    return sorted((PROXY / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules("v1") + modules("v2"), ids=str)
def test_the_translation_core_imports_no_io(path):
    assert {name for name in imports(path) if name.split(".")[0] in IO} == set()


@pytest.mark.parametrize("path", modules("fake_glance"), ids=str)
def test_the_fake_glance_imports_nothing_of_the_proxy(path):
    assert {name for name in imports(path)
            if name.split(".")[0] == "proxy" and not name.startswith("proxy.fake_glance")} == set()


def test_only_the_shell_and_operations_import_aiohttp_in_the_proxy():
    outside = [path for path in PROXY.rglob("*.py")
               if "aiohttp" in {name.split(".")[0] for name in imports(path)}
               and path.relative_to(PROXY).parts[0] not in ("shell", "ops", "fake_glance")]
    assert outside == []


def test_the_top_level_keeps_only_the_command_line_and_the_settings():
    assert sorted(p.name for p in PROXY.glob("*.py")) == ["__init__.py", "__main__.py",
                                                           "config.py"]

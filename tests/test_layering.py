"""The library's floors: ``y90dose`` never imports the service or a web framework.

ARCHITECTURE.md: the service imports the library, never the reverse. The one door the
other way is ``y90dose/cli/service_interface.py``, which loads ``y90dose_service.commands`` by
name when ``y90dose serve`` or ``y90dose keys`` runs (an optional interface); nothing
else in ``y90dose`` names a service module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import y90dose
from y90dose.cli import service_interface

LIBRARY = Path(y90dose.__file__).parent
FORBIDDEN = {"y90dose_service", "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic"}
"""Top-level packages the library may not import (the service and its frameworks)."""
DOOR = LIBRARY / "cli" / "service_interface.py"


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def _service_strings(tree: ast.AST) -> list[str]:
    """String constants that name a service module (``"y90dose_service.x"``)."""
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.split(".")[0] == "y90dose_service"
        and "." in node.value
        and " " not in node.value
    ]


def test_the_library_imports_no_service_and_no_web_framework() -> None:
    offenders = []
    for path in sorted(LIBRARY.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in _imports(tree):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(LIBRARY)}: import {name}")
        if path != DOOR:
            offenders += [
                f"{path.relative_to(LIBRARY)}: names {text!r}" for text in _service_strings(tree)
            ]
    assert offenders == []


def test_the_one_door_loads_only_the_service_commands() -> None:
    tree = ast.parse(DOOR.read_text(encoding="utf-8"))
    assert _service_strings(tree) == ["y90dose_service.commands"]
    assert service_interface.SERVICE_COMMANDS == "y90dose_service.commands"


def test_the_layering_test_catches_an_import() -> None:
    """The walk sees imports inside functions too (lazy imports were the old way in)."""
    tree = ast.parse(
        "def f():\n    from y90dose_service.db import open_database\n    import fastapi\n"
    )
    assert _imports(tree) == ["y90dose_service.db", "fastapi"]
    assert _service_strings(ast.parse("importlib.import_module('y90dose_service.models')")) == [
        "y90dose_service.models"
    ]

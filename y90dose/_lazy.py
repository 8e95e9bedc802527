"""Packages that re-export their modules' names and import each module on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` of a package that re-exports ``exports`` lazily.

    ``exports`` maps a submodule (relative to ``package``) to the names taken from it;
    ``package.name`` imports the submodule the first time it is asked for (PEP 562), so
    importing one light submodule (an options model) does not import the heavy ones.
    """
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:  # noqa: N807 (the module hook PEP 562 names)
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(module_of)

    return __getattr__, __dir__

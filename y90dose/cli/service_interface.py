"""The one door from the library to the service: ``y90dose serve`` and ``y90dose keys``.

The library never imports the service (tests/test_layering.py holds it to that); these
two commands are an optional interface that loads the service's command functions
(``y90dose_service/commands.py``) when they run, with a clear message when the service extra
is not installed.
"""

from __future__ import annotations

import importlib
from types import ModuleType

SERVICE_COMMANDS = "y90dose_service.commands"
"""The module of the service's command functions (the only service name used here)."""


def service_commands(command: str) -> ModuleType:
    """``y90dose_service.commands``, or a one-line exit saying how to install the service."""
    try:
        return importlib.import_module(SERVICE_COMMANDS)
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise SystemExit(
            f"y90dose {command}: the service is not installed ({exc}); "
            "install from the checkout with: pip install -e '.[service]'"
        ) from None

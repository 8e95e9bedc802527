"""The y90dose planning service: a FastAPI app over the :mod:`y90dose` core.

The service imports the core; the core never imports the service. Start it with
``y90dose serve`` or build the app with :func:`y90dose_service.main.create_app`.
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from y90dose_service.main import create_app

        return create_app
    raise AttributeError(name)

"""Phantom generators: name -> function returning a :class:`y90dose.phantoms.base.Phantom`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from y90dose.phantoms.base import Phantom
from y90dose.phantoms.generators import liver, lung_slab, nema_iec, point_source, uniform_sphere

GENERATORS: dict[str, Callable[..., Phantom]] = {
    "uniform-sphere": uniform_sphere.generate,
    "point-source": point_source.generate,
    "liver": liver.generate,
    "nema-iec": nema_iec.generate,
    "lung-slab": lung_slab.generate,
}


def generate(name: str, **parameters: Any) -> Phantom:
    """Build phantom ``name`` with optional generator parameters.

    Raises
    ------
    y90dose.errors.InputError
        If the name is unknown.
    """
    from y90dose.errors import InputError

    if name not in GENERATORS:
        raise InputError("name", name, f"one of {sorted(GENERATORS)}")
    return GENERATORS[name](**parameters)


__all__ = ["GENERATORS", "generate"]

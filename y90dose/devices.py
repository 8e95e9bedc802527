"""Microsphere products and their vials: glass (TheraSphere) and resin (SIR-Spheres)."""

from __future__ import annotations

from enum import StrEnum

from y90dose.constants import (
    ENERGY_GLASS_J_PER_GBQ,
    ENERGY_RESIN_J_PER_GBQ,
    Constant,
)


class Product(StrEnum):
    """Microsphere product. ``Product("glass")`` works, as does ``Product.GLASS``."""

    GLASS = "glass"
    RESIN = "resin"


DEFAULT_ENERGY_BY_PRODUCT: dict[Product, Constant] = {
    Product.GLASS: ENERGY_GLASS_J_PER_GBQ,
    Product.RESIN: ENERGY_RESIN_J_PER_GBQ,
}
"""The energy constant C each product's own documentation uses (see constants.py)."""


def default_energy_j_per_gbq(product: Product) -> Constant:
    """The product's default energy-per-GBq constant, with its source."""
    return DEFAULT_ENERGY_BY_PRODUCT[Product(product)]

"""The site settings a planning command may choose: ``--segmentectomy-definition``.

The library's :class:`~y90dose.settings.ClinicalSettings` holds every threshold; this
module turns the one a site chooses per plan (which segmentectomy floor) into settings.
"""

from __future__ import annotations

import argparse

from pydantic import BaseModel

from y90dose.constants import SEGMENTECTOMY_FLOOR_CITATIONS, SEGMENTECTOMY_FLOORS
from y90dose.delivery import Delivery
from y90dose.errors import InputError
from y90dose.settings import DEFAULT_SETTINGS, ClinicalSettings

OPTION = "--segmentectomy-definition"


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--segmentectomy-definition`` (validated later, against the plan's product)."""
    floors = "; ".join(
        f"{name}: {floor.value:g} Gy ({SEGMENTECTOMY_FLOOR_CITATIONS[name]})"
        for name, floor in SEGMENTECTOMY_FLOORS.items()
    )
    parser.add_argument(
        OPTION,
        dest="segmentectomy_definition",
        metavar="{" + ",".join(SEGMENTECTOMY_FLOORS) + "}",
        default=None,
        help=f"the floor a --delivery segmentectomy plan is checked against: {floors}; "
        "lewandowski2018 for glass only, eanm2022 for resin only (default definition)",
    )


def settings_from_args(args: argparse.Namespace, inputs: BaseModel) -> ClinicalSettings:
    """The settings ``inputs`` are planned with; the option is refused where it has no use."""
    name = getattr(args, "segmentectomy_definition", None)
    if name is None:
        return DEFAULT_SETTINGS
    delivery = getattr(inputs, "delivery", None)
    if delivery is not Delivery.SEGMENTECTOMY:
        raise InputError(
            OPTION,
            name,
            "only with --delivery segmentectomy (it is the floor a segmentectomy is checked "
            "against)",
        )
    product = inputs.product.value  # type: ignore[attr-defined]
    try:
        return DEFAULT_SETTINGS.with_segmentectomy_definition(product, name)
    except InputError as exc:
        raise InputError(
            OPTION, name, exc.allowed.replace(product, f"--product {product}")
        ) from None

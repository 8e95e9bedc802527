"""The site settings a planning command may choose: ``--segmentectomy-definition``.

The library's :class:`~y90dose.settings.ClinicalSettings` holds every threshold; this
module turns the one a site chooses per plan (which segmentectomy floor) into settings.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pydantic import BaseModel

from y90dose.constants import SEGMENTECTOMY_FLOOR_CITATIONS, SEGMENTECTOMY_FLOORS
from y90dose.delivery import Delivery
from y90dose.errors import InputError
from y90dose.settings import DEFAULT_SETTINGS, ClinicalSettings

if TYPE_CHECKING:
    from y90dose.models.treatment_input import TreatmentInput

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
        help=f"the floor a --delivery segmentectomy plan (a treatment: its territories with "
        f"delivery segmentectomy) is checked against: {floors}; "
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


def treatment_settings_from_args(
    args: argparse.Namespace, inputs: TreatmentInput
) -> ClinicalSettings:
    """The settings a treatment is planned with: the definition holds every territory
    whose delivery is segmentectomy; refused when no territory is one, or when one uses
    a product the definition is not of (the territory is named)."""
    name = getattr(args, "segmentectomy_definition", None)
    if name is None:
        return DEFAULT_SETTINGS
    chosen = [t for t in inputs.territories if t.inputs.delivery is Delivery.SEGMENTECTOMY]
    if not chosen:
        raise InputError(
            OPTION,
            name,
            "only with a territory whose delivery is segmentectomy (it is the floor a "
            "segmentectomy is checked against)",
        )
    settings = DEFAULT_SETTINGS
    for product in dict.fromkeys(t.inputs.product.value for t in chosen):
        try:
            settings = settings.with_segmentectomy_definition(product, name)
        except InputError as exc:
            names = ", ".join(repr(t.name) for t in chosen if t.inputs.product.value == product)
            raise InputError(
                OPTION, name, f"{exc.allowed} (segmentectomy territory {names} uses {product})"
            ) from None
    return settings

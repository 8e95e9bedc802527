"""How the spheres are delivered: which part of the liver the plan treats."""

from __future__ import annotations

from enum import StrEnum


class Delivery(StrEnum):
    """Delivery type a plan states; the perfused volume is the territory it treats."""

    WHOLE = "whole"
    LOBAR = "lobar"
    SEGMENTAL = "segmental"
    SEGMENTECTOMY = "segmentectomy"

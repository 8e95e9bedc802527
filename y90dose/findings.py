"""Clinical findings: what a plan tells its caller beyond the numbers.

Findings are results, not exceptions. Each has a severity (``info``, ``warning``,
``block``), a stable machine code and a message with the numbers that triggered it. A
``block`` finding means the plan must not be approved as it stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Severity(StrEnum):
    """How much a finding matters: ``block`` prevents approval."""

    INFO = "info"
    WARNING = "warning"
    BLOCK = "block"


class Code(StrEnum):
    """Stable finding codes (part of the public contract: never renamed)."""

    LUNG_DOSE_OVER_LIMIT = "LUNG_DOSE_OVER_LIMIT"
    LUNG_DOSE_CUMULATIVE_OVER_LIMIT = "LUNG_DOSE_CUMULATIVE_OVER_LIMIT"
    LUNG_DOSE_NEAR_LIMIT = "LUNG_DOSE_NEAR_LIMIT"
    LUNG_MASS_ASSUMED = "LUNG_MASS_ASSUMED"
    LSF_OVER_RESIN_LIMIT = "LSF_OVER_RESIN_LIMIT"
    BSA_LSF_REDUCTION = "BSA_LSF_REDUCTION"
    PERFUSED_DOSE_BELOW_RANGE = "PERFUSED_DOSE_BELOW_RANGE"
    PERFUSED_DOSE_ABOVE_RANGE = "PERFUSED_DOSE_ABOVE_RANGE"
    SEGMENTECTOMY_BELOW_THRESHOLD = "SEGMENTECTOMY_BELOW_THRESHOLD"
    SEGMENTECTOMY_BELOW_ABLATIVE = "SEGMENTECTOMY_BELOW_ABLATIVE"
    SEGMENTECTOMY_TOO_MANY_SEGMENTS = "SEGMENTECTOMY_TOO_MANY_SEGMENTS"
    SEGMENTS_NOT_NAMED = "SEGMENTS_NOT_NAMED"
    PERFUSED_VOLUME_EXCEEDS_SEGMENTS = "PERFUSED_VOLUME_EXCEEDS_SEGMENTS"
    TUMOR_BELOW_SEGMENTECTOMY_FLOOR = "TUMOR_BELOW_SEGMENTECTOMY_FLOOR"
    VIAL_CALIBRATION_IMMINENT = "VIAL_CALIBRATION_IMMINENT"
    NORMAL_LIVER_DOSE_HIGH = "NORMAL_LIVER_DOSE_HIGH"
    TUMOR_DOSE_LOW = "TUMOR_DOSE_LOW"
    ACTIVITY_ABOVE_LARGEST_VIAL = "ACTIVITY_ABOVE_LARGEST_VIAL"
    VIAL_USED_BEFORE_CALIBRATION = "VIAL_USED_BEFORE_CALIBRATION"
    ENERGY_CONSTANT_NON_DEFAULT = "ENERGY_CONSTANT_NON_DEFAULT"
    SPHERES_EMBOLIC_LOAD = "SPHERES_EMBOLIC_LOAD"
    WHOLE_NORMAL_LIVER_DOSE_HIGH = "WHOLE_NORMAL_LIVER_DOSE_HIGH"
    WHOLE_NORMAL_LIVER_NOT_CHECKED = "WHOLE_NORMAL_LIVER_NOT_CHECKED"
    WHOLE_LIVER_VOLUME_NOT_GIVEN = "WHOLE_LIVER_VOLUME_NOT_GIVEN"
    LUNG_MASS_MEASURED = "LUNG_MASS_MEASURED"
    LSF_LUNG_VOI_OUTSIDE_FOV = "LSF_LUNG_VOI_OUTSIDE_FOV"


class Finding(BaseModel):
    """One clinical finding of a plan."""

    model_config = ConfigDict(frozen=True)

    severity: Severity
    code: Code
    message: str


def has_block(findings: Sequence[Finding]) -> bool:
    """True when any finding blocks approval."""
    return any(f.severity is Severity.BLOCK for f in findings)


MAX_DECIMALS = 9
"""Most decimals :func:`beside` prints before it falls back to the exact ``repr``."""


def beside(value: float, limit: float, decimals: int = 1) -> str:
    """``value`` as a finding's message prints it next to ``limit``.

    ``decimals`` decimals, or more where that many would print the limit itself: a finding
    never says "200.0 Gy is below the 200 Gy floor" (199.99 Gy is printed "199.99").

    Examples
    --------
    >>> beside(195.04, 200.0), beside(199.99, 200.0), beside(399.999, 400.0, 2)
    ('195.0', '199.99', '399.999')
    """
    for places in range(decimals, MAX_DECIMALS + 1):
        text = f"{value:.{places}f}"
        if float(text) != limit:
            return text
    return repr(value)

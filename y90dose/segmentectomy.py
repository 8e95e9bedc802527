"""Verification of a radiation segmentectomy after treatment, from a voxel dose map.

A post-treatment Y-90 PET/CT or SPECT/CT dose map, with the treated segment (the
perfused territory) and the tumour(s) as VOIs, says whether the segmentectomy reached
its dose: the tumour's and the segment's mean dose, D70 and V200 are reported together,
and a tumour whose mean or D70 is below the segmentectomy floor is a warning
(``TUMOR_BELOW_SEGMENTECTOMY_FLOOR``). The floor is the one a plan is checked against
(:meth:`y90dose.settings.ClinicalSettings.segmentectomy_floor`: 200 Gy by definition,
Liberchuk and Deipolyi 2020; sites may use 190 Gy glass or 150 Gy resin). A dose equal to
the floor meets it.

The computation takes arrays and returns a result; it reads and writes no file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from y90dose.constants import SEGMENTECTOMY_FLOOR_CITATIONS, SEGMENTECTOMY_FLOORS
from y90dose.devices import Product
from y90dose.dvh import dose_metrics
from y90dose.errors import InputError
from y90dose.findings import Code, Finding, Severity, beside
from y90dose.settings import DEFAULT_SETTINGS, ClinicalSettings

V200_GY = 200.0
"""The V200 reported (percent of the VOI at >= 200 Gy), the definition's dose."""
RELATIVE_TOLERANCE = 1e-9
"""A dose equal to the floor up to rounding meets it (as in :mod:`y90dose.checks`)."""


class VoiSegmentectomyDose(BaseModel):
    """Mean dose, D70 and V200 of one VOI."""

    model_config = ConfigDict(frozen=True)

    voi: str
    role: str = Field(description="segment or tumour")
    mean_gy: float
    d70_gy: float = Field(description="minimum dose to the hottest 70 % of the VOI (Gy)")
    v200_percent: float = Field(description="percent of the VOI receiving >= 200 Gy")


class SegmentectomyVerification(BaseModel):
    """The segment and tumour doses against the segmentectomy floor, with findings."""

    model_config = ConfigDict(frozen=True)

    definition: str = Field(description="definition, lewandowski2018 or eanm2022")
    floor_gy: float
    floor_citation: str
    doses: list[VoiSegmentectomyDose] = Field(description="the segment first, then tumours")
    findings: list[Finding]


def verify_segmentectomy(
    dose_gy: npt.ArrayLike,
    vois: Mapping[str, npt.ArrayLike],
    segment_voi: str,
    tumour_vois: Sequence[str],
    *,
    spacing_zyx_mm: Sequence[float],
    density_g_ml: float | npt.ArrayLike,
    product: Product | str | None = None,
    settings: ClinicalSettings = DEFAULT_SETTINGS,
) -> SegmentectomyVerification:
    """Mean, D70 and V200 of the segment and each tumour; tumours below the floor flagged.

    Parameters
    ----------
    dose_gy
        Dose map (z, y, x), Gy.
    vois
        VOI name -> boolean mask on the dose grid.
    segment_voi
        The treated segment (perfused territory) VOI.
    tumour_vois
        The tumour VOIs inside it (one or more).
    spacing_zyx_mm, density_g_ml
        Voxel size (z, y, x) and density, as for :func:`y90dose.dvh.dose_metrics`.
    product
        The product's floor setting applies; without a product, the definition (200 Gy).
    settings
        Site settings (which floor each product is held to).

    Raises
    ------
    InputError
        ``segment_roi`` not a VOI, or no tumour VOI.

    Examples
    --------
    >>> import numpy as np
    >>> dose = np.array([250.0, 250.0, 180.0, 180.0, 100.0]).reshape(1, 1, 5)
    >>> segment = np.ones(dose.shape, bool)
    >>> tumour = segment.copy(); tumour[..., 4] = False
    >>> v = verify_segmentectomy(dose, {"seg": segment, "t": tumour}, "seg", ["t"],
    ...                          spacing_zyx_mm=(1, 1, 1), density_g_ml=1.0)
    >>> [(d.voi, d.mean_gy, d.d70_gy, d.v200_percent) for d in v.doses]
    [('seg', 192.0, 180.0, 40.0), ('t', 215.0, 180.0, 50.0)]
    >>> [f.code.value for f in v.findings]
    ['TUMOR_BELOW_SEGMENTECTOMY_FLOOR']
    """
    if segment_voi not in vois:
        raise InputError("segment_roi", segment_voi, f"the name of a VOI: {sorted(vois)}")
    tumours = [name for name in tumour_vois if name != segment_voi]
    if not tumours:
        raise InputError(
            "segment_roi", segment_voi, "a segment VOI together with one or more tumour VOIs"
        )
    name = (
        "definition"
        if product is None
        else next(
            key
            for key, value in SEGMENTECTOMY_FLOORS.items()
            if value is settings.segmentectomy_floor(Product(product).value)
        )
    )
    floor_gy = SEGMENTECTOMY_FLOORS[name].value
    rows = [
        _row(dose_gy, vois[voi], voi, role, spacing_zyx_mm, density_g_ml)
        for voi, role in [(segment_voi, "segment"), *((t, "tumour") for t in tumours)]
    ]
    findings: list[Finding] = []
    for row in rows[1:]:
        low = [
            f"{label} {beside(value, floor_gy)} Gy"
            for label, value in (("mean", row.mean_gy), ("D70", row.d70_gy))
            if value < floor_gy * (1.0 - RELATIVE_TOLERANCE)
        ]
        if low:
            findings.append(
                Finding(
                    severity=Severity.WARNING,
                    code=Code.TUMOR_BELOW_SEGMENTECTOMY_FLOOR,
                    message=f"tumour {row.voi!r}: {' and '.join(low)} below the {floor_gy:g} Gy "
                    f"segmentectomy floor ({name}: {SEGMENTECTOMY_FLOOR_CITATIONS[name]})",
                )
            )
    return SegmentectomyVerification(
        definition=name,
        floor_gy=floor_gy,
        floor_citation=SEGMENTECTOMY_FLOOR_CITATIONS[name],
        doses=rows,
        findings=findings,
    )


def _row(
    dose_gy: npt.ArrayLike,
    mask: npt.ArrayLike,
    voi: str,
    role: str,
    spacing_zyx_mm: Sequence[float],
    density_g_ml: float | npt.ArrayLike,
) -> VoiSegmentectomyDose:
    metrics = dose_metrics(
        dose_gy,
        mask,
        spacing_zyx_mm=spacing_zyx_mm,
        voi_name=voi,
        density_g_ml=density_g_ml,
        dx_percent=(70.0,),
        v_thresholds_gy=(V200_GY,),
    )
    return VoiSegmentectomyDose(
        voi=voi,
        role=role,
        mean_gy=metrics.mean_gy,
        d70_gy=metrics.d_gy["D70"],
        v200_percent=metrics.v_percent["V200"],
    )


def verification_text(verification: SegmentectomyVerification) -> list[str]:
    """Report lines: the floor, one line per VOI, the findings."""
    lines = [
        f"segmentectomy verification against {verification.floor_gy:g} Gy "
        f"({verification.definition}: {verification.floor_citation}):",
        f"  {'VOI':<16} {'role':<8} {'mean Gy':>9} {'D70 Gy':>9} {'V200 %':>8}",
    ]
    for row in verification.doses:
        lines.append(
            f"  {row.voi[:16]:<16} {row.role:<8} {row.mean_gy:>9.1f} {row.d70_gy:>9.1f} "
            f"{row.v200_percent:>8.1f}"
        )
    for finding in verification.findings:
        lines.append(
            f"  [{finding.severity.value.upper()}] {finding.code.value}: {finding.message}"
        )
    if not verification.findings:
        lines.append("  every tumour's mean and D70 reach the floor")
    return lines


__all__ = [
    "SegmentectomyVerification",
    "VoiSegmentectomyDose",
    "verification_text",
    "verify_segmentectomy",
]

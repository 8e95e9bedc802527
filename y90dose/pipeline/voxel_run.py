"""Voxel dosimetry end to end: images in -> activity -> dose -> metrics (-> outputs).

Steps (each reported through ``progress(fraction, stage)``):

1. Read the emission image (SPECT or PET, :mod:`y90dose.pipeline.inputs`), the CT if
   given, and the VOIs, rasterised or resampled onto the emission image's grid, which is
   the dose grid. ``normal_liver`` (liver minus the tumours) and ``tumors`` (their union)
   are added when a liver and at least one tumour are present.
2. Activity per voxel (:mod:`y90dose.voxel.activity`): an image in counts is scaled so
   that the normalisation VOI (default ``liver``) holds A x (1 - LSF) x (1 - R), or, with
   ``predictive=True``, the planned activity distributed by the MAA image (its values are
   relative even in Bq/mL: Tc-99m becquerels say nothing about the Y-90 activity). An
   image in Bq/mL (DICOM Units BQML, or ``image_units="bqml"``) is used at its own
   calibration when no activity is given; given an activity, it is rescaled the same way
   (the VOI holds A x (1 - LSF) x (1 - R)) and the result reports the image's own
   activity and the factor applied. An option given is used or refused, never dropped:
   ``normalize_to``, ``lsf`` and ``residual`` without an activity on a Bq/mL image,
   ``kernel`` with ``method="ldm"`` and ``hu_density_curve`` without CT densities are
   refused.
3. Density per dose voxel: the CT's mean density in each voxel
   (:mod:`y90dose.pipeline.ct_density`) with ``density="ct"`` (default when a CT is
   given), else the liver density everywhere.
4. Absorbed dose to complete decay (permanent implant), Gy: local deposition
   (``method="ldm"``, D = C x A / m) or dose-voxel-kernel convolution (``"dvk"``,
   :func:`y90dose.voxel.convolution.dvk_dose`).
5. Per-VOI metrics and cumulative DVHs (:mod:`y90dose.dvh`), BED/EQD2 with the tumour
   parameters in tumour VOIs and the normal-liver ones in liver VOIs.

The energy constant C is the caller's (``energy_j_per_gbq``), else the product's
(``y90dose.devices.default_energy_j_per_gbq``) when ``product`` is given, else the EANM
2022 value 49.67 J/GBq; the one used, its source, and how it differs from each
product's default are in the result (``energy_note``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from y90dose.constants import (
    ENERGY_EANM_J_PER_GBQ,
    KERNEL_LOW_DENSITY_WARNING_G_ML,
    LIVER_DENSITY_G_ML,
    SECONDS_PER_HOUR,
    Y90_HALF_LIFE_H,
)
from y90dose.decay import decay_factor
from y90dose.devices import Product, default_energy_j_per_gbq
from y90dose.dvh import (
    DEFAULT_V_THRESHOLDS_GY,
    Dvh,
    RadiobiologyParameters,
    VoiDoseMetrics,
    VoiDoses,
    bed_map_gy,
    eqd2_map_gy,
)
from y90dose.errors import ImageError, InputError
from y90dose.imaging.image import Image
from y90dose.imaging.vois import Vois, tumour_names, with_normal_liver
from y90dose.models.common import MAX_ACTIVITY_GBQ
from y90dose.pipeline.ct_density import density_on_grid
from y90dose.pipeline.inputs import (
    VoiSource,
    is_quantitative,
    read_ct,
    read_emission_image,
    read_vois,
    with_whole_liver,
)
from y90dose.pipeline.progress import ProgressFn, Stages
from y90dose.radiobiology import check_alpha_per_gy
from y90dose.voxel.activity import (
    ActivityMap,
    ActivityMethod,
    activity_from_concentration,
    activity_from_counts,
    activity_predictive_from_maa,
)
from y90dose.voxel.convolution import dvk_dose
from y90dose.voxel.density import DEFAULT_HU_DENSITY_CURVE, HuDensityCurve
from y90dose.voxel.kernels import KernelSource
from y90dose.voxel.ldm import ldm_dose
from y90dose.voxel.result import VoxelDoseResult

_LIVER_NAME = re.compile(r"(liver|perfused|lobe|segment)", re.IGNORECASE)
_LUNG_NAME = re.compile(r"lung", re.IGNORECASE)

#: Largest number of DVH points per VOI; the bin width grows past it (1 Gy by default).
DVH_MAX_POINTS = 10_000
DVH_BIN_WIDTH_GY = 1.0
DEFAULT_LIVER_ROI = "liver"
"""The whole-liver VOI when none is named (optional: without it, no normal-liver VOI)."""
DEFAULT_NORMALIZE_TO = "liver"
"""The VOI that holds A x (1 - LSF) x (1 - R) when ``normalize_to`` is not given."""
QUANTITATIVE_MISMATCH = 0.2
"""A Bq/mL image whose own activity in the normalisation VOI differs from A x (1 - LSF) x
(1 - R) by more than this fraction is flagged (it is rescaled to the given activity)."""

LUNG_KERNEL_STATEMENT = (
    "A soft-tissue dose kernel (and local deposition with soft-tissue transport) is "
    f"inaccurate where the density is below {KERNEL_LOW_DENSITY_WARNING_G_ML.value:g} g/mL "
    "(lung, air): beta particles travel about 3-4 times farther in lung than in soft "
    "tissue, so lung and lung-boundary doses here are energy / local mass without a "
    "transport correction and should be read as estimates."
)


class DoseMethod(StrEnum):
    """Dose engine: local deposition or dose-voxel-kernel convolution."""

    LDM = "ldm"
    DVK = "dvk"
    DVK_HETEROGENEOUS = "dvk_heterogeneous"


class DensitySource(StrEnum):
    """Where voxel densities come from: the CT, or the liver density everywhere."""

    CT = "ct"
    UNIFORM = "uniform"


@dataclass(frozen=True)
class VoxelComputation:
    """Everything the pipeline computed, arrays included (outputs are written from it).

    Arrays are indexed (z, y, x); ``dose_image`` and the VOIs lie on the emission
    image's grid.
    """

    spect: Image
    ct: Image | None
    vois: Vois
    voi_source: VoiSource
    tumour_vois: tuple[str, ...]
    activity: ActivityMap
    density_g_ml: npt.NDArray[np.float64] | float
    density_info: dict[str, Any]
    dose: VoxelDoseResult
    dose_image: Image
    metrics: dict[str, VoiDoseMetrics]
    dvhs: dict[str, Dvh]
    radiobiology_by_voi: dict[str, RadiobiologyParameters | None]
    energy_j_per_gbq: float
    energy_source: str
    inputs: dict[str, Any]
    warnings: tuple[str, ...] = field(default_factory=tuple)
    decay_correction: dict[str, Any] | None = None
    image_calibration: dict[str, Any] | None = None
    energy_note: str | None = None

    @property
    def spacing_zyx_mm(self) -> tuple[float, float, float]:
        """Dose-grid voxel size in array order (z, y, x), mm."""
        x, y, z = self.spect.spacing_mm
        return (z, y, x)


def _number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _positive_number(value: Any) -> bool:
    return _number(value) and float(value) > 0


def _check_fraction(name: str, value: float) -> float:
    if not _number(value):
        raise InputError(name, value, "a fraction 0 <= value < 1 (not a percentage)")
    number = float(value)
    if number < 0.0 or number >= 1.0:
        raise InputError(name, value, "a fraction 0 <= value < 1 (not a percentage)")
    return number


def _energy(
    energy_j_per_gbq: float | None, product: Product | str | None
) -> tuple[float, str, str]:
    """C, its source, and a note on how it compares with the products' defaults."""
    chosen: Product | None = None
    if product is not None:
        try:
            chosen = Product(product)
        except ValueError:
            raise InputError("product", product, "one of 'glass', 'resin'") from None
    defaults = {p: default_energy_j_per_gbq(p).value for p in Product}
    if energy_j_per_gbq is not None:
        value = float(energy_j_per_gbq) if _number(energy_j_per_gbq) else math.nan
        if not 45.0 <= value <= 55.0:
            raise InputError(
                "energy_j_per_gbq", energy_j_per_gbq, "a number 45-55 J/GBq (e.g. 49.67)"
            )
        source = "given by the caller (energy_j_per_gbq)"
    elif chosen is not None:
        constant = default_energy_j_per_gbq(chosen)
        value, source = constant.value, f"{constant.name}: {constant.source}"
    else:
        value = ENERGY_EANM_J_PER_GBQ.value
        source = f"{ENERGY_EANM_J_PER_GBQ.name}: {ENERGY_EANM_J_PER_GBQ.source}"
    compared = [chosen] if chosen is not None else list(Product)
    differences = [
        f"{p.value} {defaults[p]:g} J/GBq ({100 * (value / defaults[p] - 1):+.2f} % dose)"
        for p in compared
        if defaults[p] != value
    ]
    if chosen is not None and not differences:
        note = f"the {chosen.value} product's default C ({value:g} J/GBq)"
    elif chosen is not None:
        note = (
            f"C = {value:g} J/GBq given overrides the {chosen.value} product's default: "
            f"this dose differs from one at {differences[0]}"
        )
    else:
        note = (
            f"no product given: C = {value:g} J/GBq; a plan for a product uses its own "
            f"default, from which this dose differs: {'; '.join(differences) or 'none'}"
        )
    return value, source, note


def _radiobiology(
    name: str, tumours: Sequence[str], alpha_per_gy: float | None
) -> RadiobiologyParameters | None:
    if name in tumours or name == "tumors":
        return RadiobiologyParameters.tumor(alpha_per_gy)
    if _LIVER_NAME.search(name):
        return RadiobiologyParameters.normal_liver(alpha_per_gy)
    return None


def _refuse_unused_scaling(
    activity_gbq: float | None, normalize_to: str | None, lsf: float, residual: float
) -> None:
    """A Bq/mL image without an activity keeps its own calibration: scaling options given
    with it would have no effect, so they are refused rather than dropped."""
    if activity_gbq is not None:
        return
    given = {"normalize_to": normalize_to, "lsf": lsf or None, "residual": residual or None}
    for name, value in given.items():
        if value is not None:
            raise InputError(
                name,
                value,
                "no value without an administered activity: the emission image is in "
                "Bq/mL, so without an activity it is used at its own calibration and "
                "nothing is rescaled (give the activity, or leave this option out)",
            )


def rescale_to_activity(
    own: ActivityMap,
    mask: npt.NDArray[np.bool_],
    *,
    mask_name: str,
    activity_gbq: float,
    lsf: float,
    residual: float,
) -> tuple[ActivityMap, dict[str, Any]]:
    """A Bq/mL image's activity map rescaled so that ``mask`` holds A x (1 - LSF) x (1 - R).

    The image's distribution is kept; its absolute calibration is replaced by the given
    activity, as for an image in counts (physics.md 4.1).

    Returns
    -------
    tuple
        The rescaled map and the calibration record: the image's own activity (in the
        image and in the VOI), the activity the VOI was given, and the factor applied.

    Raises
    ------
    InputError
        (``normalize_to``) if the image holds no activity in the VOI.
    """
    own_in_mask = own.activity_in_mask_gbq
    if own_in_mask <= 0.0:
        raise InputError(
            "normalize_to",
            mask_name,
            "a VOI that holds activity in the image (the Bq/mL image holds 0 GBq in it)",
        )
    target = activity_gbq * (1.0 - lsf) * (1.0 - residual)
    factor = target / own_in_mask
    values = own.activity_gbq * factor
    in_mask = float(values[mask].sum())
    outside = float(values.sum()) - in_mask
    description = (
        f"image in Bq/mL rescaled so that '{mask_name}' holds {target:.4g} GBq = "
        f"{activity_gbq:.4g} GBq administered x (1 - LSF {lsf:.4g}) x (1 - residual "
        f"{residual:.4g}): the image's own calibration gives {own_in_mask:.4g} GBq there "
        f"({own.total_activity_gbq:.4g} GBq in the image), factor {factor:.6g} applied; "
        f"{outside:.4g} GBq outside the VOI"
    )
    calibration = {
        "image_activity_gbq": own.total_activity_gbq,
        "image_activity_in_voi_gbq": own_in_mask,
        "voi": mask_name,
        "given_activity_gbq": activity_gbq,
        "target_in_voi_gbq": target,
        "factor": factor,
    }
    rescaled = ActivityMap(
        activity_gbq=values,
        spacing_mm=own.spacing_mm,
        method=ActivityMethod.CONCENTRATION_RESCALED,
        scale_factor=own.scale_factor * factor,
        mask_name=mask_name,
        counts_in_mask=None,
        target_activity_gbq=target,
        activity_in_mask_gbq=in_mask,
        activity_outside_mask_gbq=outside,
        description=description,
    )
    return rescaled, calibration


def _activity(
    spect: Image,
    vois: Vois,
    spacing_zyx: tuple[float, float, float],
    *,
    activity_gbq: float | None,
    lsf: float,
    residual: float,
    normalize_to: str | None,
    predictive: bool,
) -> tuple[ActivityMap, dict[str, Any] | None]:
    values = spect.array
    if not np.all(np.isfinite(values)):
        raise ImageError(
            f"--spect {spect.metadata.get('source_path', '')}: "
            f"{int((~np.isfinite(values)).sum())} voxel(s) are NaN or infinite"
        )
    if float(values.min()) < 0.0:
        raise ImageError(
            f"--spect {spect.metadata.get('source_path', '')}: {int((values < 0).sum())} "
            f"voxel(s) have negative values (minimum {float(values.min()):.4g}); an activity "
            "image must be >= 0 (reconstruct without negative values, e.g. OSEM)"
        )
    voi = normalize_to or DEFAULT_NORMALIZE_TO
    # A predictive run scales the MAA image's distribution to the planned Y-90 activity even
    # when the image is in Bq/mL: those are Tc-99m becquerels, not the Y-90 activity.
    if is_quantitative(spect) and not predictive:
        _refuse_unused_scaling(activity_gbq, normalize_to, lsf, residual)
        if activity_gbq is not None and voi not in vois:
            raise InputError("normalize_to", voi, f"one of the VOIs: {sorted(vois)}")
        mask = vois.get(voi)
        factor, _ = decay_to_implant(spect)
        own = activity_from_concentration(
            values * factor if factor != 1.0 else values,
            spacing_mm=spacing_zyx,
            mask=mask,
            mask_name=voi if mask is not None else None,
        )
        if activity_gbq is None or mask is None:
            return own, None
        return rescale_to_activity(
            own, mask, mask_name=voi, activity_gbq=activity_gbq, lsf=lsf, residual=residual
        )
    if activity_gbq is None:
        raise InputError(
            "activity_gbq",
            None,
            "an activity > 0 GBq: the emission image is in counts (not Bq/mL), so it is "
            "scaled to the administered (or planned) activity",
        )
    if voi not in vois:
        raise InputError("normalize_to", voi, f"one of the VOIs: {sorted(vois)}")
    if predictive:
        return activity_predictive_from_maa(
            values,
            spacing_mm=spacing_zyx,
            mask=vois[voi],
            planned_activity_gbq=activity_gbq,
            lung_shunt_fraction=lsf,
            residual_fraction=residual,
            mask_name=voi,
        ), None
    return activity_from_counts(
        values,
        spacing_mm=spacing_zyx,
        mask=vois[voi],
        administered_activity_gbq=activity_gbq,
        lung_shunt_fraction=lsf,
        residual_fraction=residual,
        mask_name=voi,
    ), None


def _dicom_datetime(date: Any, time_text: Any) -> datetime | None:
    """A naive datetime from DICOM DA + TM strings (the scanner's local clock)."""
    if not date or not time_text:
        return None
    text = f"{str(date).strip()}{str(time_text).strip()}"
    digits = text.split(".")[0]
    for layout in ("%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d%H"):
        try:
            return datetime.strptime(digits, layout)
        except ValueError:
            continue
    return None


def decay_to_implant(image: Image) -> tuple[float, dict[str, Any]]:
    """Factor that takes a Bq/mL image back to the implantation (administration) time.

    A quantitative PET/SPECT states its reference time in DICOM: ``DecayCorrection`` ADMIN
    (already at administration: factor 1), START (at the acquisition start) or NONE (as
    acquired; the acquisition start is used, the frame's own decay is neglected). The
    activity at implantation is A0 = A(t) x 2^(dt / T1/2), dt from
    RadiopharmaceuticalStartDateTime (the administration) to AcquisitionDate/Time (or
    SeriesDate/Time; for PET with START, SeriesDate/Time first, DICOM's reference), T1/2
    of Y-90 (constants). Microspheres are a permanent implant, so the dose to complete
    decay needs A0. Without the times the values are used as they are and
    the report says so.

    Returns
    -------
    tuple
        (factor, description for the report).
    """
    meta = image.metadata
    correction = str(meta.get("DecayCorrection") or "").upper()
    info: dict[str, Any] = {"dicom_decay_correction": correction or None, "factor": 1.0}
    if not correction:
        day = 2.0 ** (-24.0 / Y90_HALF_LIFE_H.value)
        info["description"] = (
            "no DICOM decay-correction information (DecayCorrection): the Bq/mL values are "
            "taken to be at implantation; if they are at the scan time, every dose is low by "
            f"the decay in between ({1.0 - day:.0%} for a scan 24 h after implantation): "
            "decay-correct the image to the administration time"
        )
        info["warning"] = True
        return 1.0, info
    if correction == "ADMIN":
        info["description"] = "image decay-corrected to the administration time by the scanner"
        return 1.0, info
    pharma = meta.get("radiopharmaceutical") or {}
    admin = None
    start_dt = pharma.get("RadiopharmaceuticalStartDateTime")
    if start_dt:
        admin = _dicom_datetime(str(start_dt)[:8], str(start_dt)[8:])
    if admin is None:
        admin = _dicom_datetime(
            meta.get("SeriesDate") or meta.get("AcquisitionDate"),
            pharma.get("RadiopharmaceuticalStartTime"),
        )
    acquisition = _dicom_datetime(meta.get("AcquisitionDate"), meta.get("AcquisitionTime"))
    series = _dicom_datetime(meta.get("SeriesDate"), meta.get("SeriesTime"))
    # PET: Series Date/Time is the reference of every time-related value, decay correction
    # START included (DICOM PS3.3 C.8.9.1.1.1); elsewhere the acquisition start is used
    pet_start = image.modality == "PT" and correction == "START"
    scan = (series or acquisition) if pet_start else (acquisition or series)
    if admin is None or scan is None:
        info["description"] = (
            f"DecayCorrection {correction} but no administration or acquisition time in the "
            "image: values used as they are (the dose is underestimated by the decay between "
            "implantation and the scan)"
        )
        info["warning"] = True
        return 1.0, info
    elapsed_h = (scan - admin).total_seconds() / SECONDS_PER_HOUR
    if elapsed_h < 0:
        raise ImageError(
            f"--spect {meta.get('source_path', '')}: acquisition ({scan.isoformat()}) is before "
            f"the administration ({admin.isoformat()})"
        )
    try:  # growth back to the administration; refused past ~7 years (a wrong DICOM date)
        factor = decay_factor(-elapsed_h)
    except InputError:
        raise ImageError(
            f"--spect {meta.get('source_path', '')}: acquisition ({scan.isoformat()}) is "
            f"{elapsed_h / 24:.0f} days after the administration ({admin.isoformat()}); "
            "decay correction over that span is meaningless: check the DICOM dates"
        ) from None
    info.update(
        factor=factor,
        administration=admin.isoformat(),
        acquisition=scan.isoformat(),
        elapsed_h=elapsed_h,
        half_life_h=Y90_HALF_LIFE_H.value,
        description=(
            f"image at acquisition ({correction}) decay-corrected back to the administration "
            f"{elapsed_h:.2f} h earlier: x {factor:.5f} = 2^({elapsed_h:.3f} h / "
            f"{Y90_HALF_LIFE_H.value} h)"
        ),
    )
    return factor, info


def _bin_width_gy(max_dose_gy: float) -> float:
    return max(DVH_BIN_WIDTH_GY, max_dose_gy / DVH_MAX_POINTS)


def compute_voxel_dose(
    spect_path: str | Path,
    rois_path: str | Path,
    *,
    ct_path: str | Path | None = None,
    roi_names: str | Mapping[Any, Any] | None = None,
    activity_gbq: float | None = None,
    lsf: float = 0.0,
    residual: float = 0.0,
    normalize_to: str | None = None,
    method: DoseMethod | str = DoseMethod.DVK,
    kernel: KernelSource | str | None = None,
    image_units: str | None = None,
    predictive: bool = False,
    product: Product | str | None = None,
    energy_j_per_gbq: float | None = None,
    density: DensitySource | str | None = None,
    hu_density_curve: HuDensityCurve | str | Path | None = None,
    liver_roi: str | None = None,
    tumor_rois: Sequence[str] | None = None,
    eud_alpha_per_gy: float | None = None,
    v_thresholds_gy: Sequence[float] = DEFAULT_V_THRESHOLDS_GY,
    allow_partial_vois: bool = False,
    progress: ProgressFn | None = None,
) -> VoxelComputation:
    """Run steps 1-5 of the module docstring and return every intermediate result.

    Parameters
    ----------
    spect_path
        Emission image: DICOM folder or file, or NIfTI/NRRD/MHA file.
    rois_path
        RTSTRUCT file (or a folder holding one), or a label map.
    ct_path
        CT (DICOM folder or image file in HU), optional: densities and the CT-grid outputs.
    roi_names
        Label -> name JSON (label maps), or the ROIs to take from an RTSTRUCT.
    activity_gbq
        Administered (or, with ``predictive``, planned) activity, GBq; required for an
        image in counts, optional (reported only) for one in Bq/mL.
    lsf, residual
        Lung shunt and residual fractions (0 <= f < 1) that did not reach the liver.
    normalize_to
        VOI that holds A x (1 - LSF) x (1 - R) (default ``liver``). With a Bq/mL image it
        needs ``activity_gbq`` (the image is then rescaled to it); ``lsf`` and
        ``residual`` likewise.
    method
        ``"dvk"`` (default) or ``"ldm"``.
    kernel
        ``"auto"`` (default; Lanconelli 2012 at tabulated voxel sizes, else integrated
        Graves DPK), ``"dpk"`` or ``"lanconelli"``; ``method="dvk"`` only.
    image_units
        ``"counts"`` or ``"bqml"``: overrides the image's own units.
    predictive
        The image is a Tc-99m MAA SPECT (counts or Bq/mL, used as relative counts) and
        ``activity_gbq`` the planned activity.
    product, energy_j_per_gbq
        Energy constant C: given, else the product's, else EANM 49.67 J/GBq.
    density
        ``"ct"`` (default with a CT) or ``"uniform"`` (liver density 1.03 g/mL).
    hu_density_curve
        A scanner's HU -> density calibration (curve or CSV path); default curve otherwise.
        Only with CT densities.
    liver_roi, tumor_rois
        Names of the liver and tumour VOIs; a name given must be a VOI of the file. The
        liver defaults to ``liver`` when there is one (else no normal-liver VOI), the
        tumours to names like ``tumor``, ``lesion``, ``GTV``, ``HCC``.
    eud_alpha_per_gy
        Radiosensitivity for the EUD (1/Gy); no EUD without it (no consensus default).
    v_thresholds_gy
        Thresholds of the V_t metrics, Gy.
    allow_partial_vois
        Keep VOIs that extend outside the image (default: refuse).
    progress
        ``progress(fraction, stage)``.

    Raises
    ------
    InputError
        A bad option (named).
    ImageError
        An unreadable file, an empty VOI, a VOI outside the image, mismatched frames.
    """
    stages = Stages(progress)
    if activity_gbq is not None and not (
        _positive_number(activity_gbq) and float(activity_gbq) <= MAX_ACTIVITY_GBQ
    ):
        raise InputError(
            "activity_gbq", activity_gbq, f"an activity > 0 and <= {MAX_ACTIVITY_GBQ:g} GBq"
        )
    activity_gbq = None if activity_gbq is None else float(activity_gbq)
    lsf = _check_fraction("lsf", lsf)
    residual = _check_fraction("residual", residual)
    try:
        dose_method = DoseMethod(method)
    except ValueError:
        raise InputError("method", method, "one of 'dvk', 'dvk_heterogeneous', 'ldm'") from None
    try:
        kernel_source = KernelSource(kernel if kernel is not None else KernelSource.AUTO)
    except ValueError:
        raise InputError("kernel", kernel, "one of 'auto', 'dpk', 'lanconelli'") from None
    if kernel is not None and dose_method is DoseMethod.LDM:
        raise InputError(
            "kernel", kernel, "no kernel with method 'ldm' (local deposition uses none)"
        )
    if eud_alpha_per_gy is not None:
        eud_alpha_per_gy = check_alpha_per_gy("eud_alpha_per_gy", eud_alpha_per_gy)
    thresholds = list(v_thresholds_gy)
    if not thresholds or not all(
        _positive_number(t) or (_number(t) and float(t) == 0) for t in thresholds
    ):
        raise InputError("v_thresholds_gy", thresholds, "one or more doses >= 0 Gy")
    constant, constant_source, energy_note = _energy(energy_j_per_gbq, product)
    curve = DEFAULT_HU_DENSITY_CURVE
    if isinstance(hu_density_curve, HuDensityCurve):
        curve = hu_density_curve
    elif hu_density_curve is not None:
        curve = HuDensityCurve.from_csv(hu_density_curve)

    stages.report(0.02, "reading the emission image")
    spect = read_emission_image(spect_path, image_units=image_units)
    ct: Image | None = None
    if ct_path is not None:
        stages.report(0.08, "reading the CT")
        ct = read_ct(ct_path)
        if (
            spect.frame_of_reference_uid is not None
            and ct.frame_of_reference_uid is not None
            and spect.frame_of_reference_uid != ct.frame_of_reference_uid
        ):
            raise ImageError(
                f"--ct {ct_path}: FrameOfReferenceUID {ct.frame_of_reference_uid} differs from "
                f"that of --spect {spect_path} ({spect.frame_of_reference_uid}); the SPECT and "
                "CT must be registered (same frame of reference)"
            )
    try:
        density_mode = DensitySource(density or (DensitySource.CT if ct else DensitySource.UNIFORM))
    except ValueError:
        raise InputError("density", density, "one of 'ct', 'uniform'") from None
    if density_mode is DensitySource.CT and ct is None:
        raise InputError("density", "ct", "'uniform' when no --ct is given")
    if hu_density_curve is not None and density_mode is not DensitySource.CT:
        raise InputError(
            "hu_density_curve",
            str(hu_density_curve) if not isinstance(hu_density_curve, HuDensityCurve) else "curve",
            "no curve when the densities are uniform (it converts the CT's HU: give a CT "
            "and density 'ct')",
        )

    stages.report(0.15, "reading the VOIs")
    vois, voi_source = read_vois(
        rois_path, spect.grid, roi_names=roi_names, allow_partial=allow_partial_vois
    )
    if liver_roi is not None and liver_roi not in vois:
        raise InputError("liver_roi", liver_roi, f"the name of a VOI in the file: {sorted(vois)}")
    liver_roi = liver_roi or DEFAULT_LIVER_ROI
    if tumor_rois:
        missing = [name for name in tumor_rois if name not in vois]
        if missing:
            raise InputError("tumor_roi", missing, f"names of VOIs in the file: {sorted(vois)}")
        tumours = tuple(tumor_rois)
    else:
        tumours = tuple(name for name in tumour_names(vois) if name != liver_roi)
    warnings: list[str] = []
    vois, note = with_whole_liver(vois, liver_roi, tumours)
    if note:
        warnings.append(note)
    if liver_roi in vois and tumours:
        vois = with_normal_liver(vois, liver=liver_roi, tumours=list(tumours))

    x, y, z = spect.spacing_mm
    spacing_zyx = (z, y, x)
    density_map: npt.NDArray[np.float64] | float
    if density_mode is DensitySource.CT and ct is not None:
        stages.report(0.25, "densities from the CT")
        grid_density = density_on_grid(ct, spect.grid, curve)
        density_map = grid_density.density_g_ml
        density_info = grid_density.provenance()
        warnings.extend(grid_density.warnings)
    else:
        density_map = LIVER_DENSITY_G_ML.value
        density_info = {
            "source": "uniform",
            "density_g_ml": LIVER_DENSITY_G_ML.value,
            "reference": LIVER_DENSITY_G_ML.source,
        }
        lungs = [name for name in vois if _LUNG_NAME.search(name)]
        if lungs:
            warnings.append(
                f"no CT densities: VOI(s) {lungs} take the liver density "
                f"{LIVER_DENSITY_G_ML.value} g/mL, so their dose is underestimated about "
                "3-fold (lung is 0.2-0.4 g/mL); give --ct for a lung dose"
            )

    stages.report(0.35, "activity per voxel")
    activity, calibration = _activity(
        spect,
        vois,
        spacing_zyx,
        activity_gbq=activity_gbq,
        lsf=lsf,
        residual=residual,
        normalize_to=normalize_to,
        predictive=predictive,
    )

    decay_info: dict[str, Any] | None = None
    if predictive and is_quantitative(spect):
        warnings.append(
            "predictive dose: the MAA image's Bq/mL (Tc-99m) values are used as relative "
            f"counts, scaled so that {normalize_to!r} holds the planned Y-90 activity"
        )
    if is_quantitative(spect) and not predictive:
        _, decay_info = decay_to_implant(spect)
        if decay_info.get("warning") and calibration is None:
            warnings.append(str(decay_info["description"]))
        if calibration is not None:
            ratio = 1.0 / calibration["factor"]  # the image's own activity / the given one
            if abs(ratio - 1.0) > QUANTITATIVE_MISMATCH:
                warnings.append(
                    f"the Bq/mL image's own calibration gives "
                    f"{calibration['image_activity_in_voi_gbq']:.4g} GBq in "
                    f"{calibration['voi']!r}, {100 * (ratio - 1):+.0f} % from the "
                    f"{calibration['target_in_voi_gbq']:.4g} GBq of the given activity, LSF "
                    f"and residual; the image was rescaled to the given activity (factor "
                    f"{calibration['factor']:.4g})"
                )
    elif predictive and lsf == 0.0:
        warnings.append(
            "predictive dose with LSF 0: the whole planned activity is put in the liver; give "
            "the measured --lsf"
        )

    stages.report(0.45, f"absorbed dose ({dose_method.value})")
    if dose_method is DoseMethod.DVK:
        try:
            dose = dvk_dose(
                activity.activity_gbq,
                spacing_mm=spacing_zyx,
                density_g_ml=density_map,
                energy_j_per_gbq=constant,
                kernel=kernel_source,
            )
        except InputError as exc:
            if exc.field != "voxel_size_mm":
                raise
            raise InputError(
                "kernel",
                kernel_source.value,
                f"a kernel for the image's voxel size {spacing_zyx} mm (z, y, x): {exc.allowed}",
            ) from None
    elif dose_method is DoseMethod.DVK_HETEROGENEOUS:
        from y90dose.voxel.heterogeneous import heterogeneous_dose

        dose = heterogeneous_dose(
            activity.activity_gbq,
            spacing_mm=spacing_zyx,
            density_g_ml=density_map,
            energy_j_per_gbq=constant,
            kernel_source=kernel_source,
        )
    else:
        dose = ldm_dose(
            activity.activity_gbq,
            spacing_mm=spacing_zyx,
            density_g_ml=density_map,
            energy_j_per_gbq=constant,
        )
    warnings.extend(dose.warnings)
    if dose_method is DoseMethod.LDM and isinstance(density_map, np.ndarray):
        low = int(
            np.count_nonzero(
                (density_map < KERNEL_LOW_DENSITY_WARNING_G_ML.value) & (dose.dose_gy > 0)
            )
        )
        if low:
            warnings.append(
                f"{low} voxel(s) with dose have density < "
                f"{KERNEL_LOW_DENSITY_WARNING_G_ML.value:g} g/mL (lung or air): their local-"
                "deposition dose is energy / local mass without transport"
            )
    dose_gy = np.asarray(dose.dose_gy, dtype=np.float32)
    dose_image = spect.with_array(dose_gy, units="GY", modality="RTDOSE")

    stages.report(0.6, "dose metrics and DVHs")
    metrics: dict[str, VoiDoseMetrics] = {}
    dvhs: dict[str, Dvh] = {}
    radiobiology: dict[str, RadiobiologyParameters | None] = {}
    for name in vois:
        params = _radiobiology(name, tumours, eud_alpha_per_gy)
        radiobiology[name] = params
        mask = vois[name]
        # one extraction and one sort of the VOI's doses for its metrics and its DVH
        voi_doses = VoiDoses.from_mask(
            dose_gy, mask, spacing_mm=spacing_zyx, density_g_ml=density_map, voi_name=name
        )
        metrics[name] = voi_doses.metrics(
            v_thresholds_gy=[float(t) for t in thresholds], radiobiology=params
        )
        dvhs[name] = voi_doses.dvh(bin_width_gy=_bin_width_gy(metrics[name].max_gy))
        if _LUNG_NAME.search(name):
            warnings.append(
                f"VOI {name!r}: lung; its dose assumes soft-tissue transport (lung_statement)"
            )

    inputs = {
        "spect_path": str(spect_path),
        "ct_path": None if ct_path is None else str(ct_path),
        "rois_path": str(rois_path),
        "activity_gbq": activity_gbq,
        "lsf": lsf,
        "residual": residual,
        "normalize_to": activity.mask_name if activity.target_activity_gbq else normalize_to,
        "method": dose_method.value,
        "kernel": kernel_source.value if dose_method is DoseMethod.DVK else None,
        "image_units": spect.units,
        "predictive": predictive,
        "product": None if product is None else Product(product).value,
        "density": density_mode.value,
        "liver_roi": liver_roi,
        "tumor_rois": list(tumours),
        "eud_alpha_per_gy": eud_alpha_per_gy,
        "v_thresholds_gy": [float(t) for t in thresholds],
    }
    return VoxelComputation(
        spect=spect,
        ct=ct,
        vois=vois,
        voi_source=voi_source,
        tumour_vois=tumours,
        activity=activity,
        density_g_ml=density_map,
        density_info=density_info,
        dose=dose,
        dose_image=dose_image,
        metrics=metrics,
        dvhs=dvhs,
        radiobiology_by_voi=radiobiology,
        energy_j_per_gbq=constant,
        energy_source=constant_source,
        inputs=inputs,
        warnings=tuple(dict.fromkeys(warnings)),
        decay_correction=decay_info,
        image_calibration=calibration,
        energy_note=energy_note,
    )


def radiobiology_maps(
    computation: VoxelComputation,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Voxel BED and EQD2 maps (Gy): tumour parameters in the tumours, normal liver elsewhere."""
    dose = computation.dose_image.array
    normal = RadiobiologyParameters.normal_liver()
    bed = bed_map_gy(dose, normal)
    eqd2 = eqd2_map_gy(dose, normal)
    if computation.tumour_vois:
        inside = computation.vois.union(list(computation.tumour_vois))
        tumour = RadiobiologyParameters.tumor()
        bed[inside] = bed_map_gy(dose[inside], tumour)
        eqd2[inside] = eqd2_map_gy(dose[inside], tumour)
    return bed.astype(np.float32), eqd2.astype(np.float32)


def flat_metrics(metrics: VoiDoseMetrics) -> dict[str, Any]:
    """One VOI's metrics with flat keys: ``mean_gy``, ``d70_gy``, ``v100_percent``...

    The nested ``d_gy``/``v_percent`` of :meth:`VoiDoseMetrics.to_dict` become one key each
    (``D70`` -> ``d70_gy``, ``V205`` -> ``v205_percent``).
    """
    data = metrics.to_dict()
    d_values = data.pop("d_gy")
    v_values = data.pop("v_percent")
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat[key] = value
    for key, value in d_values.items():
        flat[f"{key.lower()}_gy"] = value
    for key, value in v_values.items():
        flat[f"{key.lower()}_percent"] = value
    flat["mass_kg"] = metrics.mass_g / 1000.0
    return flat

"""Step 2 of a voxel run, *compute*: images in, dose and metrics out, no file touched.

:func:`compute_voxel_dose` takes a :class:`~y90dose.pipeline.study.VoxelStudy` (the
emission image, the CT and the VOIs on the dose grid, :mod:`y90dose.pipeline.study`) and
a :class:`~y90dose.pipeline.options.VoxelOptions`, and returns a :class:`VoxelRun`. Its
steps (each reported through ``progress(fraction, stage)``):

1. VOIs: the liver and tumours chosen (``liver_roi``, ``tumor_rois``); ``normal_liver``
   (liver minus the tumours) and ``tumors`` (their union) are added when a liver and at
   least one tumour are present.
2. Density per dose voxel: the CT's mean density in each voxel
   (:mod:`y90dose.pipeline.ct_density`) with ``density="ct"`` (default when a CT is
   given), else the liver density everywhere.
3. Activity per voxel (:mod:`y90dose.voxel.activity`): an image in counts is scaled so
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
4. Absorbed dose to complete decay (permanent implant), Gy: local deposition
   (``method="ldm"``, D = C x A / m), dose-voxel-kernel convolution (``"dvk"``,
   :func:`y90dose.voxel.convolution.dvk_dose`) or the lung-capable heterogeneous engine
   (``"dvk_heterogeneous"``, :mod:`y90dose.voxel.heterogeneous`). ``"auto"`` (the
   default) is the heterogeneous engine when the densities come from a CT and the DVK
   otherwise (:func:`choose_engine`); the run names the engine that ran and why
   (``method_reason``).
5. Per-VOI metrics and cumulative DVHs (:mod:`y90dose.dvh`), BED/EQD2 with the tumour
   parameters in tumour VOIs and the normal-liver ones in liver VOIs; with
   ``segment_roi``, the segmentectomy check (:mod:`y90dose.segmentectomy`).

The energy constant C is ``energy_j_per_gbq`` if given, else the product's
(``y90dose.devices.default_energy_j_per_gbq``) when ``product`` is given, else the EANM
2022 value 49.67 J/GBq; the one used, its source, and how it differs from each
product's default are in the result (``energy_note``).

Step 3, *write*, is :meth:`VoxelRun.write` (:mod:`y90dose.pipeline.outputs`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from y90dose.constants import (
    ENERGY_EANM_J_PER_GBQ,
    KERNEL_LOW_DENSITY_WARNING_G_ML,
    LIVER_DENSITY_G_ML,
    NORMALISATION_OUTSIDE_MARGIN,
    SECONDS_PER_HOUR,
    Y90_HALF_LIFE_H,
)
from y90dose.decay import decay_factor
from y90dose.devices import Product, default_energy_j_per_gbq
from y90dose.dvh import (
    Dvh,
    RadiobiologyParameters,
    VoiDoseMetrics,
    VoiDoses,
    bed_map_gy,
)
from y90dose.errors import ImageError, InputError
from y90dose.imaging.image import Image
from y90dose.imaging.vois import NORMAL_LIVER, Vois, tumour_names, with_normal_liver
from y90dose.pipeline.ct_density import density_on_grid
from y90dose.pipeline.inputs import VoiSource, is_quantitative, with_whole_liver
from y90dose.pipeline.options import DensitySource, VoxelOptions
from y90dose.pipeline.progress import ProgressFn, Stages
from y90dose.pipeline.study import VoxelStudy
from y90dose.pipeline.voi_uncertainty import voi_uncertainties
from y90dose.radiobiology import eqd2_of_bed_gy
from y90dose.segmentectomy import SegmentectomyVerification, verify_segmentectomy
from y90dose.uncertainty.voi import VoiMeanUncertainty
from y90dose.voxel.activity import (
    ActivityMap,
    ActivityMethod,
    activity_from_concentration,
    activity_from_counts,
    activity_predictive_from_maa,
)
from y90dose.voxel.convolution import dvk_dose
from y90dose.voxel.density import DEFAULT_HU_DENSITY_CURVE
from y90dose.voxel.kernels import KernelSource
from y90dose.voxel.ldm import ldm_dose
from y90dose.voxel.result import VoxelDoseMethod, VoxelDoseResult

if TYPE_CHECKING:
    import SimpleITK as sitk  # noqa: N813 (the usual alias)

    from y90dose.pipeline.run import VoxelRunResult

_LIVER_NAME = re.compile(r"(liver|perfused|lobe|segment)", re.IGNORECASE)
_LUNG_NAME = re.compile(r"lung", re.IGNORECASE)

#: Largest number of DVH points per VOI; the bin width grows past it (1 Gy by default).
DVH_MAX_POINTS = 10_000
DVH_BIN_WIDTH_GY = 1.0
_SLAB_VOXELS = 1 << 20
"""Voxels per slab of the BED/EQD2 maps computed at a time (float64 temporaries)."""
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

HETEROGENEOUS_LUNG_STATEMENT = (
    "Lung and bone doses are from the heterogeneous engine (dvk_heterogeneous): the beta "
    "energy that crosses from soft tissue into lung is carried along radiological depth "
    "(ranges about 1/density longer in lung) and bone uses bone ranges. Against Monte "
    "Carlo (ompMC, y90dose validate) it is within 15 % in each lung bin of the lung-slab "
    "phantom holding at least 10 % of the source layer's dose, within 10 % for the mean "
    "lung dose and the liver under the dome of the liver-dome phantom, and within 5 % in "
    "uniform bone. Not modelled: lateral spreading in lung, and dose through a thin lung layer "
    "into the tissue beyond it."
)
"""The lung statement of a run whose densities come from a CT and whose engine is the
heterogeneous one (``validate`` rows ``heterogeneous/*`` and ``phantom/lung-slab``)."""

DensityMap = npt.NDArray[np.float64] | float


class VoiMetrics(BaseModel):
    """One VOI's dose metrics, as the CLI's JSON shows them (``metrics.json``).

    The fixed fields are declared; the D and V metrics are one attribute each, named by
    the run's thresholds: ``d70_gy``, ``d90_gy``..., ``v100_percent``, ``v205_percent``...
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    voi_name: str
    n_voxels: int
    volume_ml: float
    mass_g: float
    weighting: str
    mean_gy: float
    mean_absorbed_gy: float
    energy_j: float
    min_gy: float
    max_gy: float
    median_gy: float
    bed_of_mean_gy: float | None = None
    eqd2_of_mean_gy: float | None = None
    mean_bed_gy: float | None = None
    mean_eqd2_gy: float | None = None
    eud_gy: float | None = None
    radiobiology: dict[str, Any] | None = None
    conventions: str
    mean_uncertainty: VoiMeanUncertainty | None = None
    """The mean dose's uncertainty: calibration, partial volume, delineation
    (:mod:`y90dose.uncertainty.voi`)."""

    def __getattr__(self, name: str) -> Any:  # typed access to the D/V extras for mypy
        return super().__getattr__(name)  # type: ignore[misc]

    @classmethod
    def of(cls, metrics: VoiDoseMetrics) -> VoiMetrics:
        """The flat form of :class:`~y90dose.dvh.VoiDoseMetrics` (see :func:`flat_metrics`)."""
        return cls.model_validate(flat_metrics(metrics))


@dataclass(frozen=True)
class VoxelRun:
    """A computed voxel run: the dose, the metrics, and how they were obtained.

    Arrays are indexed (z, y, x); ``dose_image`` and the VOIs lie on the emission image's
    grid. :attr:`dose` is the same dose as a SimpleITK image; :meth:`write` writes the
    output folder of ``y90dose voxel``.
    """

    study: VoxelStudy
    options: VoxelOptions
    vois: Vois
    tumour_vois: tuple[str, ...]
    activity: ActivityMap
    density_g_ml: DensityMap
    density_info: dict[str, Any]
    dose_result: VoxelDoseResult
    dose_image: Image
    voi_metrics: dict[str, VoiDoseMetrics]
    dvhs: dict[str, Dvh]
    radiobiology_by_voi: dict[str, RadiobiologyParameters | None]
    energy_j_per_gbq: float
    energy_source: str
    inputs: RunInputs
    warnings: tuple[str, ...] = field(default_factory=tuple)
    decay_correction: dict[str, Any] | None = None
    image_calibration: dict[str, Any] | None = None
    energy_note: str | None = None
    segmentectomy: SegmentectomyVerification | None = None
    elapsed_s: float = 0.0
    method_reason: str = ""
    lung_statement: str = LUNG_KERNEL_STATEMENT
    voi_uncertainty: dict[str, VoiMeanUncertainty] = field(default_factory=dict)

    @property
    def method(self) -> VoxelDoseMethod:
        """The engine that ran (``auto`` resolved: see :attr:`method_reason`)."""
        return self.dose_result.method

    @property
    def dose(self) -> sitk.Image:
        """Absorbed dose to complete decay (Gy) as a SimpleITK image on the emission grid."""
        return self.dose_image.to_sitk()

    @cached_property
    def metrics(self) -> dict[str, VoiMetrics]:
        """Each VOI's metrics with flat names (``mean_gy``, ``d70_gy``, ``volume_ml``...)."""
        return {
            name: VoiMetrics.of(m).model_copy(
                update={"mean_uncertainty": self.voi_uncertainty.get(name)}
            )
            for name, m in self.voi_metrics.items()
        }

    @property
    def spect(self) -> Image:
        """The emission image (its grid is the dose grid)."""
        return self.study.spect

    @property
    def ct(self) -> Image | None:
        """The CT, if one was given."""
        return self.study.ct

    @property
    def voi_source(self) -> VoiSource:
        """Where the VOIs came from."""
        return self.study.voi_source

    @property
    def spacing_zyx_mm(self) -> tuple[float, float, float]:
        """Dose-grid voxel size in array order (z, y, x), mm."""
        x, y, z = self.spect.spacing_mm
        return (z, y, x)

    def write(
        self,
        out_dir: str | Path,
        *,
        write_pngs: bool = True,
        overwrite: bool = False,
        progress: ProgressFn | None = None,
    ) -> VoxelRunResult:
        """Write the files of ``y90dose voxel --out out_dir`` and return the summary.

        See :mod:`y90dose.pipeline.outputs` for the files; ``metrics.json`` holds the
        returned summary. ``out_dir`` must be new or empty (or, with ``overwrite``, a
        previous run's folder).
        """
        from y90dose.pipeline.run import write_run

        return write_run(
            self, out_dir, write_pngs=write_pngs, overwrite=overwrite, progress=progress
        )


def _energy(options: VoxelOptions) -> tuple[float, str, str]:
    """C, its source, and a note on how it compares with the products' defaults."""
    chosen = options.product
    defaults = {p: default_energy_j_per_gbq(p).value for p in Product}
    if options.energy_j_per_gbq is not None:
        value = options.energy_j_per_gbq
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
        spacing_zyx_mm=own.spacing_zyx_mm,
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
            f"{meta.get('source_path', '')}: acquisition ({scan.isoformat()}) is before "
            f"the administration ({admin.isoformat()})",
            field="spect",
        )
    try:  # growth back to the administration; refused past ~7 years (a wrong DICOM date)
        factor = decay_factor(-elapsed_h)
    except InputError:
        raise ImageError(
            f"{meta.get('source_path', '')}: acquisition ({scan.isoformat()}) is "
            f"{elapsed_h / 24:.0f} days after the administration ({admin.isoformat()}); "
            "decay correction over that span is meaningless: check the DICOM dates",
            field="spect",
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


def _check_emission_values(spect: Image) -> None:
    values = spect.array
    where = spect.metadata.get("source_path", "")
    if not np.all(np.isfinite(values)):
        raise ImageError(
            f"{where}: {int((~np.isfinite(values)).sum())} voxel(s) are NaN or infinite",
            field="spect",
        )
    if float(values.min()) < 0.0:
        raise ImageError(
            f"{where}: {int((values < 0).sum())} voxel(s) have negative values (minimum "
            f"{float(values.min()):.4g}); an activity image must be >= 0 (reconstruct "
            "without negative values, e.g. OSEM)",
            field="spect",
        )


def _activity_of_concentration(
    spect: Image, vois: Vois, spacing_zyx: tuple[float, float, float], options: VoxelOptions
) -> tuple[ActivityMap, dict[str, Any] | None]:
    """A Bq/mL image: its own activity, or rescaled to the given one."""
    _refuse_unused_scaling(
        options.activity_gbq, options.normalize_to, options.lsf, options.residual
    )
    voi = options.normalize_to or DEFAULT_NORMALIZE_TO
    if options.activity_gbq is not None and voi not in vois:
        raise InputError("normalize_to", voi, f"one of the VOIs: {sorted(vois)}")
    mask = vois.get(voi)
    factor, _ = decay_to_implant(spect)
    own = activity_from_concentration(
        spect.array * factor if factor != 1.0 else spect.array,
        spacing_zyx_mm=spacing_zyx,
        mask=mask,
        mask_name=voi if mask is not None else None,
    )
    if options.activity_gbq is None or mask is None:
        return own, None
    return rescale_to_activity(
        own,
        mask,
        mask_name=voi,
        activity_gbq=options.activity_gbq,
        lsf=options.lsf,
        residual=options.residual,
    )


def _activity(
    spect: Image, vois: Vois, spacing_zyx: tuple[float, float, float], options: VoxelOptions
) -> tuple[ActivityMap, dict[str, Any] | None]:
    """Activity per voxel (GBq) and, for a rescaled Bq/mL image, its calibration record."""
    _check_emission_values(spect)
    # A predictive run scales the MAA image's distribution to the planned Y-90 activity even
    # when the image is in Bq/mL: those are Tc-99m becquerels, not the Y-90 activity.
    if is_quantitative(spect) and not options.predictive:
        return _activity_of_concentration(spect, vois, spacing_zyx, options)
    if options.activity_gbq is None:
        raise InputError(
            "activity_gbq",
            None,
            "an activity > 0 GBq: the emission image is in counts (not Bq/mL), so it is "
            "scaled to the administered (or planned) activity",
        )
    voi = options.normalize_to or DEFAULT_NORMALIZE_TO
    if voi not in vois:
        raise InputError("normalize_to", voi, f"one of the VOIs: {sorted(vois)}")
    if options.predictive:
        return activity_predictive_from_maa(
            spect.array,
            spacing_zyx_mm=spacing_zyx,
            mask=vois[voi],
            planned_activity_gbq=options.activity_gbq,
            lung_shunt_fraction=options.lsf,
            residual_fraction=options.residual,
            mask_name=voi,
        ), None
    return activity_from_counts(
        spect.array,
        spacing_zyx_mm=spacing_zyx,
        mask=vois[voi],
        administered_activity_gbq=options.activity_gbq,
        lung_shunt_fraction=options.lsf,
        residual_fraction=options.residual,
        mask_name=voi,
    ), None


def _activity_warnings(
    spect: Image, options: VoxelOptions, calibration: dict[str, Any] | None
) -> tuple[list[str], dict[str, Any] | None]:
    """Warnings on how the image became activity, and the decay-correction record."""
    warnings: list[str] = []
    if options.predictive and is_quantitative(spect):
        warnings.append(
            "predictive dose: the MAA image's Bq/mL (Tc-99m) values are used as relative "
            f"counts, scaled so that {options.normalize_to!r} holds the planned Y-90 activity"
        )
    if not is_quantitative(spect) or options.predictive:
        if options.predictive and options.lsf == 0.0:
            warnings.append(
                "predictive dose with LSF 0: the whole planned activity is put in the liver; "
                "give the measured lsf"
            )
        return warnings, None
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
    return warnings, decay_info


def _normalisation_warnings(activity: ActivityMap, options: VoxelOptions) -> list[str]:
    """A scaled image with more counts outside its normalisation VOI than the LSF explains.

    The VOI is given A x (1 - LSF) x (1 - R); what lies outside it is kept and added, so a
    share f outside makes the image hold (1 - LSF) / (1 - f) x the activity that reached
    the patient, A x (1 - R). The lungs' share LSF and some blur belong outside; beyond
    ``NORMALISATION_OUTSIDE_MARGIN`` above the LSF, the image holds more than was given
    (review findings F1, F4).
    """
    if activity.target_activity_gbq is None or options.activity_gbq is None:
        return []  # a Bq/mL image at its own calibration: nothing was scaled
    fraction = activity.fraction_outside_mask
    margin = NORMALISATION_OUTSIDE_MARGIN.value
    if fraction <= options.lsf + margin:
        return []
    received = options.activity_gbq * (1.0 - options.residual)
    total = activity.total_activity_gbq
    region = activity.mask_name
    return [
        f"{fraction:.1%} of the image's counts lie outside the normalisation VOI {region!r} "
        f"(more than the LSF {options.lsf:.1%} + {margin:.0%}): after scaling {region!r} "
        f"to {activity.target_activity_gbq:.4g} GBq the image holds {total:.4g} GBq, "
        f"{total / received:.3g} x the {received:.4g} GBq that reached the patient "
        "(activity x (1 - residual)). If that activity belongs to the liver (a VOI too "
        f"small, a tumour outside it, a wrong normalisation VOI), every dose in {region!r} "
        "is overestimated by about that share: normalise to the VOI that holds the "
        "microspheres (the whole liver, or the perfused volume)"
    ]


def _bin_width_gy(max_dose_gy: float) -> float:
    return max(DVH_BIN_WIDTH_GY, max_dose_gy / DVH_MAX_POINTS)


@dataclass(frozen=True)
class _VoiChoice:
    vois: Vois
    liver: str
    tumours: tuple[str, ...]
    warnings: tuple[str, ...]


def _choose_vois(vois: Vois, options: VoxelOptions) -> _VoiChoice:
    """The liver and tumour VOIs; the whole liver, normal liver and tumour union added.

    The whole liver (the default normalisation VOI) is the liver VOI OR every VOI of the
    file named like a tumour (:func:`~y90dose.imaging.vois.tumour_names`), whichever
    tumours ``tumor_rois`` names: naming tumours selects what is reported, it does not move
    the normalisation (review finding F1). ``normal_liver`` is the whole liver minus every
    tumour VOI, named or named like one.
    """
    if options.liver_roi is not None and options.liver_roi not in vois:
        raise InputError(
            "liver_roi", options.liver_roi, f"the name of a VOI in the file: {sorted(vois)}"
        )
    liver = options.liver_roi or DEFAULT_LIVER_ROI
    tumour_like = tuple(name for name in tumour_names(vois) if name != liver)
    if options.tumor_rois:
        missing = [name for name in options.tumor_rois if name not in vois]
        if missing:
            raise InputError("tumor_rois", missing, f"names of VOIs in the file: {sorted(vois)}")
        tumours = tuple(options.tumor_rois)
    else:
        tumours = tumour_like
    vois, note = with_whole_liver(vois, liver, tumour_like)
    notes = [note] if note else []
    if liver in vois and tumours:
        vois = with_normal_liver(vois, liver=liver, tumours=list(tumours))
        others = [name for name in tumour_like if name not in tumours]
        if others:
            vois = vois.with_masks({NORMAL_LIVER: vois[NORMAL_LIVER] & ~vois.union(others)})
    if liver in vois:
        for name in tumours:
            outside = int(np.count_nonzero(vois[name] & ~vois[liver]))
            if outside:
                notes.append(
                    f"tumour VOI {name!r} has {outside} voxel(s) outside the whole liver "
                    f"{liver!r} (its name does not look like a tumour's: tumor, lesion, GTV, "
                    "HCC...): when the activity is normalised to the liver, its activity there "
                    "is added on top of the administered activity; rename it or draw the "
                    "liver around it"
                )
    return _VoiChoice(vois, liver, tumours, tuple(notes))


def _density_source(study: VoxelStudy, options: VoxelOptions) -> DensitySource:
    """CT densities (default with a CT) or uniform; refuses CT options without a CT."""
    source = options.density or (DensitySource.CT if study.ct else DensitySource.UNIFORM)
    if source is DensitySource.CT and study.ct is None:
        raise InputError("density", "ct", "'uniform' when no CT is given")
    if options.hu_density_curve is not None and source is not DensitySource.CT:
        raise InputError(
            "hu_density_curve",
            str(options.hu_density_curve),
            "no curve when the densities are uniform (it converts the CT's HU: give a CT "
            "and density 'ct')",
        )
    return source


@dataclass(frozen=True)
class EngineChoice:
    """The engine a run uses and why (``method_reason`` of the result)."""

    method: VoxelDoseMethod
    reason: str


def choose_engine(requested: VoxelDoseMethod, density: DensitySource) -> EngineChoice:
    """The engine of a run: ``auto`` is the heterogeneous engine with CT densities, else DVK.

    With CT densities the soft-tissue kernel puts the energy that crosses into lung in its
    first millimetres (+145 % in the first 2 mm of the lung-slab phantom, -78 % at 4-6 mm,
    against ompMC) and treats bone as soft tissue; the heterogeneous engine is within the
    issue-10 targets there and equals the DVK in soft tissue, at about 3x its cost
    (docs/physics.md, "Heterogeneous media"). With one density everywhere the two give
    the same dose, so ``auto`` takes the DVK. An engine named explicitly is used as named.

    Examples
    --------
    >>> choose_engine(VoxelDoseMethod.AUTO, DensitySource.CT).method.value
    'dvk_heterogeneous'
    >>> choose_engine(VoxelDoseMethod.AUTO, DensitySource.UNIFORM).method.value
    'dvk'
    >>> choose_engine(VoxelDoseMethod.LDM, DensitySource.CT).method.value
    'ldm'
    """
    if requested is VoxelDoseMethod.AUTO and density is DensitySource.CT:
        return EngineChoice(
            VoxelDoseMethod.HETEROGENEOUS,
            "method auto: the densities come from the CT, so the lung- and bone-capable "
            "engine dvk_heterogeneous ran (the soft-tissue dvk misplaces the dose in lung "
            "and bone; in soft tissue the two are the same)",
        )
    if requested is VoxelDoseMethod.AUTO:
        return EngineChoice(
            VoxelDoseMethod.DVK,
            "method auto: no CT densities (one density everywhere), so dvk ran (the "
            "heterogeneous engine gives the same dose with one density)",
        )
    if requested is VoxelDoseMethod.HETEROGENEOUS and density is not DensitySource.CT:
        return EngineChoice(
            requested,
            "method dvk_heterogeneous as requested; with one density everywhere its dose "
            "is the dvk's",
        )
    return EngineChoice(requested, f"method {requested.value} as requested")


@dataclass(frozen=True)
class _Densities:
    g_ml: DensityMap
    info: dict[str, Any]
    warnings: tuple[str, ...]


def _densities(study: VoxelStudy, vois: Vois, source: DensitySource) -> _Densities:
    """Density per dose voxel (g/mL): the CT's, or the liver density everywhere."""
    if source is DensitySource.CT and study.ct is not None:
        grid_density = density_on_grid(
            study.ct, study.spect.grid, study.hu_density_curve or DEFAULT_HU_DENSITY_CURVE
        )
        return _Densities(
            grid_density.density_g_ml, grid_density.provenance(), tuple(grid_density.warnings)
        )
    info = {
        "source": "uniform",
        "density_g_ml": LIVER_DENSITY_G_ML.value,
        "reference": LIVER_DENSITY_G_ML.source,
    }
    lungs = [name for name in vois if _LUNG_NAME.search(name)]
    warnings = (
        (
            f"no CT densities: VOI(s) {lungs} take the liver density "
            f"{LIVER_DENSITY_G_ML.value} g/mL, so their dose is underestimated about "
            "3-fold (lung is 0.2-0.4 g/mL); give a CT for a lung dose",
        )
        if lungs
        else ()
    )
    return _Densities(LIVER_DENSITY_G_ML.value, info, warnings)


def _engine_dose(
    activity_gbq: npt.NDArray[np.float64],
    spacing_zyx: tuple[float, float, float],
    density_g_ml: DensityMap,
    energy_j_per_gbq: float,
    method: VoxelDoseMethod,
    options: VoxelOptions,
) -> VoxelDoseResult:
    """The dose (Gy) of the engine ``method`` (auto already resolved), with its warnings."""
    kernel = options.kernel or KernelSource.AUTO
    if method is VoxelDoseMethod.LDM:
        return ldm_dose(
            activity_gbq,
            spacing_zyx_mm=spacing_zyx,
            density_g_ml=density_g_ml,
            energy_j_per_gbq=energy_j_per_gbq,
        )
    try:
        if method is VoxelDoseMethod.HETEROGENEOUS:
            from y90dose.voxel.heterogeneous import heterogeneous_dose

            return heterogeneous_dose(
                activity_gbq,
                spacing_zyx_mm=spacing_zyx,
                density_g_ml=density_g_ml,
                energy_j_per_gbq=energy_j_per_gbq,
                kernel_source=kernel,
            )
        return dvk_dose(
            activity_gbq,
            spacing_zyx_mm=spacing_zyx,
            density_g_ml=density_g_ml,
            energy_j_per_gbq=energy_j_per_gbq,
            kernel=kernel,
        )
    except InputError as exc:
        if exc.field != "voxel_size_zyx_mm":
            raise
        raise InputError(
            "kernel",
            kernel.value,
            f"a kernel for the image's voxel size {spacing_zyx} mm (z, y, x): {exc.allowed}",
        ) from None


def _low_density_warning(
    method: VoxelDoseMethod, density_g_ml: DensityMap, dose_gy: npt.NDArray[np.floating]
) -> list[str]:
    """Local deposition in lung or air voxels: said, since no transport is modelled."""
    if method is not VoxelDoseMethod.LDM or not isinstance(density_g_ml, np.ndarray):
        return []
    threshold = KERNEL_LOW_DENSITY_WARNING_G_ML.value
    low = int(np.count_nonzero((density_g_ml < threshold) & (dose_gy > 0)))
    if not low:
        return []
    return [
        f"{low} voxel(s) with dose have density < {threshold:g} g/mL (lung or air): their "
        "local-deposition dose is energy / local mass without transport"
    ]


@dataclass(frozen=True)
class _VoiResults:
    metrics: dict[str, VoiDoseMetrics]
    dvhs: dict[str, Dvh]
    radiobiology: dict[str, RadiobiologyParameters | None]
    warnings: tuple[str, ...]


def _voi_results(
    dose_gy: npt.NDArray[np.float32],
    choice: _VoiChoice,
    spacing_zyx: tuple[float, float, float],
    density_g_ml: DensityMap,
    options: VoxelOptions,
    *,
    lung_transport: bool = False,
) -> _VoiResults:
    """Metrics and DVH of each VOI (each VOI's doses extracted and sorted once).

    Without ``lung_transport`` (an engine that carries the energy into lung, with CT
    densities), a lung VOI's dose is flagged as assuming soft-tissue transport.
    """
    metrics: dict[str, VoiDoseMetrics] = {}
    dvhs: dict[str, Dvh] = {}
    radiobiology: dict[str, RadiobiologyParameters | None] = {}
    warnings: list[str] = []
    for name in choice.vois:
        params = _radiobiology(name, choice.tumours, options.eud_alpha_per_gy)
        radiobiology[name] = params
        voi_doses = VoiDoses.from_mask(
            dose_gy,
            choice.vois[name],
            spacing_zyx_mm=spacing_zyx,
            density_g_ml=density_g_ml,
            voi_name=name,
        )
        metrics[name] = voi_doses.metrics(
            v_thresholds_gy=list(options.v_thresholds_gy), radiobiology=params
        )
        dvhs[name] = voi_doses.dvh(bin_width_gy=_bin_width_gy(metrics[name].max_gy))
        if _LUNG_NAME.search(name) and not lung_transport:
            warnings.append(
                f"VOI {name!r}: lung; its dose assumes soft-tissue transport (lung_statement)"
            )
    return _VoiResults(metrics, dvhs, radiobiology, tuple(warnings))


class RunInputs(BaseModel):
    """The inputs and options as a run used them (``inputs`` of ``metrics.json``): defaults
    resolved (``method`` is the engine that ran, ``liver_roi`` the liver chosen...)."""

    model_config = ConfigDict(frozen=True)

    spect_path: str | None = Field(description="the emission image's file or folder")
    ct_path: str | None
    rois_path: str
    activity_gbq: float | None
    lsf: float
    residual: float
    normalize_to: str | None = Field(description="the VOI scaled to the activity, if any")
    method: str = Field(description="the engine that ran (auto resolved)")
    kernel: str | None = Field(description="kernel option of dvk and dvk_heterogeneous")
    image_units: str | None
    predictive: bool
    product: str | None
    density: str
    liver_roi: str
    tumor_rois: list[str]
    eud_alpha_per_gy: float | None
    v_thresholds_gy: list[float]
    segment_roi: str | None


def _inputs_record(
    study: VoxelStudy,
    options: VoxelOptions,
    activity: ActivityMap,
    density: DensitySource,
    choice: _VoiChoice,
    method: VoxelDoseMethod,
) -> RunInputs:
    """The options as the run used them; ``method`` is the engine that ran."""
    return RunInputs(
        spect_path=study.spect.metadata.get("source_path"),
        ct_path=None if study.ct is None else study.ct.metadata.get("source_path"),
        rois_path=study.voi_source.path,
        activity_gbq=options.activity_gbq,
        lsf=options.lsf,
        residual=options.residual,
        normalize_to=(activity.mask_name if activity.target_activity_gbq else options.normalize_to),
        method=method.value,
        kernel=None
        if method is VoxelDoseMethod.LDM
        else (options.kernel or KernelSource.AUTO).value,
        image_units=study.spect.units,
        predictive=options.predictive,
        product=None if options.product is None else options.product.value,
        density=density.value,
        liver_roi=choice.liver,
        tumor_rois=list(choice.tumours),
        eud_alpha_per_gy=options.eud_alpha_per_gy,
        v_thresholds_gy=list(options.v_thresholds_gy),
        segment_roi=options.segment_roi,
    )


def _segmentectomy(
    dose_gy: npt.NDArray[np.float32],
    choice: _VoiChoice,
    spacing_zyx: tuple[float, float, float],
    density_g_ml: DensityMap,
    options: VoxelOptions,
) -> SegmentectomyVerification | None:
    if options.segment_roi is None:
        return None
    return verify_segmentectomy(
        dose_gy,
        choice.vois,
        options.segment_roi,
        choice.tumours,
        spacing_zyx_mm=spacing_zyx,
        density_g_ml=density_g_ml,
        product=options.product,
    )


def compute_voxel_dose(
    study: VoxelStudy,
    options: VoxelOptions | Mapping[str, Any] | None = None,
    *,
    progress: ProgressFn | None = None,
) -> VoxelRun:
    """Steps 1-5 of the module docstring, on images in memory (no file is read or written).

    Parameters
    ----------
    study
        The emission image, CT and VOIs (:func:`y90dose.pipeline.study.load_study`).
    options
        The run's options (a mapping is validated as :class:`VoxelOptions`).
    progress
        ``progress(fraction, stage)``, fraction 0..0.6 (the write step goes on to 1).

    Raises
    ------
    InputError
        A bad option, named by its field (``activity_gbq``, ``normalize_to``...).
    ImageError
        An unusable image (negative values, impossible decay dates), named by its input.
    """
    started = time.perf_counter()
    options = VoxelOptions.of(options)
    stages = Stages(progress)
    constant, constant_source, energy_note = _energy(options)
    choice = _choose_vois(study.vois, options)
    spacing_zyx = _zyx(study.spect.spacing_mm)
    density_source = _density_source(study, options)
    stages.report(0.25, "densities")
    density = _densities(study, choice.vois, density_source)
    stages.report(0.35, "activity per voxel")
    activity, calibration = _activity(study.spect, choice.vois, spacing_zyx, options)
    activity_warnings, decay_info = _activity_warnings(study.spect, options, calibration)
    activity_warnings.extend(_normalisation_warnings(activity, options))
    engine = choose_engine(options.method, density_source)
    lung_transport = (
        engine.method is VoxelDoseMethod.HETEROGENEOUS and density_source is DensitySource.CT
    )
    stages.report(0.45, f"absorbed dose ({engine.method.value})")
    dose = _engine_dose(
        activity.activity_gbq, spacing_zyx, density.g_ml, constant, engine.method, options
    )
    dose_gy = np.asarray(dose.dose_gy, dtype=np.float32)
    stages.report(0.6, "dose metrics and DVHs")
    results = _voi_results(
        dose_gy, choice, spacing_zyx, density.g_ml, options, lung_transport=lung_transport
    )
    warnings = [
        *choice.warnings,
        *density.warnings,
        *activity_warnings,
        *dose.warnings,
        *_low_density_warning(engine.method, density.g_ml, dose_gy),
        *results.warnings,
    ]
    return VoxelRun(
        study=study,
        options=options,
        vois=choice.vois,
        tumour_vois=choice.tumours,
        activity=activity,
        density_g_ml=density.g_ml,
        density_info=density.info,
        dose_result=dose,
        dose_image=study.spect.with_array(dose_gy, units="GY", modality="RTDOSE"),
        voi_metrics=results.metrics,
        dvhs=results.dvhs,
        radiobiology_by_voi=results.radiobiology,
        energy_j_per_gbq=constant,
        energy_source=constant_source,
        inputs=_inputs_record(study, options, activity, density_source, choice, engine.method),
        warnings=tuple(dict.fromkeys(warnings)),
        decay_correction=decay_info,
        image_calibration=calibration,
        energy_note=energy_note,
        segmentectomy=_segmentectomy(dose_gy, choice, spacing_zyx, density.g_ml, options),
        elapsed_s=time.perf_counter() - started,
        method_reason=engine.reason,
        lung_statement=HETEROGENEOUS_LUNG_STATEMENT if lung_transport else LUNG_KERNEL_STATEMENT,
        voi_uncertainty=voi_uncertainties(
            dose_gy, choice.vois, spacing_zyx, results.metrics, options, study.spect
        ),
    )


def _zyx(spacing_xyz_mm: Sequence[float]) -> tuple[float, float, float]:
    """An image's (x, y, z) spacing in array order (z, y, x)."""
    x, y, z = spacing_xyz_mm
    return (float(z), float(y), float(x))


def radiobiology_slabs(
    computation: VoxelRun,
) -> Iterator[tuple[int, npt.NDArray[np.float32], npt.NDArray[np.float32]]]:
    """Voxel BED and EQD2 (Gy) slab by slab: ``(z0, bed, eqd2)`` for planes z0, z0 + 1...

    Tumour parameters in the tumours, normal liver elsewhere; computed in float64 about
    1 M voxels at a time and given as float32, so that no whole-grid float64 map exists.
    """
    dose = computation.dose_image.array
    normal = RadiobiologyParameters.normal_liver()
    tumour = RadiobiologyParameters.tumor()
    inside = (
        computation.vois.union(list(computation.tumour_vois)) if computation.tumour_vois else None
    )
    step = max(1, _SLAB_VOXELS // max(1, dose[0].size)) if dose.shape[0] else 1
    for z0 in range(0, dose.shape[0], step):
        part = dose[z0 : z0 + step]
        bed_part = bed_map_gy(part, normal)
        bed = bed_part.astype(np.float32)
        eqd2 = eqd2_of_bed_gy(bed_part, normal.alpha_beta_gy).astype(np.float32)
        where = None if inside is None else inside[z0 : z0 + step]
        if where is not None and where.any():
            tumour_bed = bed_map_gy(part[where], tumour)
            bed[where] = tumour_bed
            eqd2[where] = eqd2_of_bed_gy(tumour_bed, tumour.alpha_beta_gy)
        yield z0, bed, eqd2


def radiobiology_maps(
    computation: VoxelRun,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Voxel BED and EQD2 maps (Gy), float32: :func:`radiobiology_slabs` put together."""
    shape = computation.dose_image.array.shape
    bed = np.empty(shape, dtype=np.float32)
    eqd2 = np.empty(shape, dtype=np.float32)
    for z0, bed_slab, eqd2_slab in radiobiology_slabs(computation):
        bed[z0 : z0 + bed_slab.shape[0]] = bed_slab
        eqd2[z0 : z0 + eqd2_slab.shape[0]] = eqd2_slab
    return bed, eqd2


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

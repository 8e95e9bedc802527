"""Voxel-based partition planning: MAA SPECT/CT VOIs in, partition-model plan out.

What is measured on the Tc-99m MAA SPECT (counts; no absolute calibration is needed):

- TN_i = (mean counts per mL in tumour i) / (mean counts per mL in the normal liver),
  the ratio of activity *concentrations* the partition model needs (physics.md 4.3),
  with normal liver = liver minus every tumour;
- volumes of the tumours and of the normal liver, in mL: voxel count x voxel volume of
  the VOIs rasterised on the CT grid when a CT is given (finer voxels, smaller partial-
  volume error), else on the SPECT grid; the planning core turns them into masses with
  the liver density (1.03 g/mL unless ``density_g_ml`` is given);
- with a lung VOI, the lung shunt fraction LSF = C_lung / (C_lung + C_liver), C the
  total counts in each VOI (physics.md 4.4, "counts from SPECT/CT VOIs"); ``lsf`` given
  explicitly takes precedence and the measured value is reported beside it.

These go, in one call, into :func:`y90dose.models.partition.plan_partition`; the result
is the planning core's plan plus what was measured. Measured CT densities are reported,
not used (pass ``density_g_ml`` to use them).

With a CT, the lungs are also segmented and weighed on it
(:mod:`y90dose.pipeline.lung_mass`): a complete measurement replaces the 1 kg lung mass
(the plan's ``LUNG_MASS_ASSUMED`` finding gives way to ``LUNG_MASS_MEASURED``); a
``lung_mass_kg`` given in ``plan_options`` wins and the measured mass is reported beside
it; lungs cut by the CT's field of view (or none found) are reported and not used. With a
lung VOI, the part of it outside the SPECT's field of view is measured
(:mod:`y90dose.pipeline.fov`) and the LSF from a cut VOI is flagged
(``LSF_LUNG_VOI_OUTSIDE_FOV``).

**VOIs drawn on another image** (a diagnostic CT, or an MR, in another frame of
reference): ``rois_ct_path`` names the image the VOIs were drawn on. The frames *differ*
unless that image and the SPECT both state one FrameOfReferenceUID and it is the same
(then the VOIs are read in place, as without it). When they differ, the VOIs are read on
that image's grid and carried onto the SPECT grid (and the CT grid) through a transform
that maps points of the MAA SPECT/CT to points of that image
(:func:`y90dose.imaging.registration.carry_vois`): the one given (``transform_path``, an
ITK file, rigid or rigid + B-spline as ``y90dose register --deformable`` writes) or one
found by registering that image onto the MAA SPECT/CT's CT (``ct_path``, required then;
:mod:`y90dose.pipeline.alignment`: rigid, or rigid + B-spline with
``RegistrationOptions(deformable=True)``). A failed registration is refused (field
``transform``); a VOI that reaches the edge of the SPECT's field of view once carried is
refused. The result reports how the VOIs were aligned (``registration``) and the
registration's quality (``automatic_registration``).

Reference: Ho S, et al. Partition model for estimating radiation doses from yttrium-90
microspheres in treating hepatic tumours. Eur J Nucl Med 1996;23:947-952.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk  # noqa: N813
from pydantic import BaseModel, ConfigDict, Field

from y90dose.errors import GeometryError, ImageError, InputError
from y90dose.imaging.image import Grid, Image
from y90dose.imaging.registration import RegistrationOptions
from y90dose.imaging.vois import Vois, with_normal_liver
from y90dose.models.common import PlanResult
from y90dose.models.partition import PartitionPlanInput, plan_partition
from y90dose.pipeline.alignment import (
    RegistrationReport,
    carry_vois_inside,
    read_study_ct,
    read_transform,
    register_studies,
)
from y90dose.pipeline.fov import lung_fov_finding, reaches_a_face, read_vois_outside, refuse_cut
from y90dose.pipeline.inputs import (
    VoiSource,
    read_emission_image,
    read_vois,
    with_whole_liver,
)
from y90dose.pipeline.lung_mass import LungMass, measure_lung_mass, measured_lung_mass_finding
from y90dose.pipeline.progress import ProgressFn, Stages
from y90dose.settings import DEFAULT_SETTINGS, ClinicalSettings
from y90dose.validation import parse
from y90dose.voxel.density import hu_to_density

LUNG_FOV_WARNING = (
    "LSF measured from SPECT/CT VOIs: lungs not wholly inside the SPECT field of view, "
    "or lung counts lost to attenuation and scatter differences, make it an underestimate; "
    "compare with the planar LSF"
)


class MeasuredVoi(BaseModel):
    """What was measured in one VOI of the MAA SPECT."""

    model_config = ConfigDict(frozen=True)

    volume_ml: float = Field(description="VOI volume used for the plan (mL)")
    volume_on_spect_grid_ml: float = Field(description="VOI volume on the SPECT grid (mL)")
    counts: float = Field(description="sum of the SPECT voxel values in the VOI")
    mean_counts_per_ml: float = Field(description="counts / volume on the SPECT grid")
    mean_ct_density_g_ml: float | None = Field(
        None, description="mean CT density in the VOI (g/mL), reported only"
    )
    ct_mass_kg: float | None = Field(None, description="CT density x volume (kg), reported")


class VoiSourceInfo(BaseModel):
    """Where the VOIs came from."""

    model_config = ConfigDict(frozen=True)

    path: str
    kind: str = Field(description="rtstruct, seg or labelmap")


class FromImagesMeasurements(BaseModel):
    """What the MAA SPECT (and CT) gave the plan: TN ratios, the LSF, volumes, counts."""

    model_config = ConfigDict(frozen=True)

    tn_ratios: dict[str, float] = Field(description="tumour VOI -> TN ratio")
    lsf_measured: float | None = Field(description="from the lung VOI, if one was named")
    lsf_used: float
    lsf_source: str
    volumes_from: str = Field(description="the grid the plan's volumes come from")
    vois: dict[str, MeasuredVoi]
    voi_source: VoiSourceInfo
    spect_units: str | None
    spect_spacing_mm: list[float] = Field(description="SPECT voxel size (x, y, z), mm")
    lung_voi_outside_fov: float | None = Field(
        None, description="fraction of the lung VOI outside the SPECT field of view, when cut"
    )
    lung_mass: dict[str, Any] | None = Field(
        None,
        description="lung mass measured on the CT (as y90dose lung-mass) and whether the plan "
        "used it (used: false when a lung mass was given)",
    )


OPTIONAL_MEASUREMENTS = ("lung_voi_outside_fov", "lung_mass")
"""Measurements that the JSON lists only when they were made."""


class FromImagesResult(BaseModel):
    """The partition plan from images and what was measured to build it."""

    model_config = ConfigDict(frozen=True)

    plan: PlanResult = Field(description="the planning core's plan")
    measured: FromImagesMeasurements = Field(description="TN ratios, LSF, volumes, counts per VOI")
    plan_input: PartitionPlanInput = Field(description="what was given to the core")
    warnings: list[str]
    registration: str = Field(
        default="VOIs in the SPECT's frame of reference",
        description="how the VOIs reached the SPECT: in place, or carried from the image "
        "they were drawn on through a transform (given, or found by registration)",
    )
    transform_path: str | None = Field(None, description="the transform file given, if any")
    automatic_registration: RegistrationReport | None = Field(
        None,
        description="the registration of the VOIs' image onto the MAA SPECT/CT's CT, when one "
        "ran: its quality and parameters",
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (the lung's field-of-view fraction and CT mass only when there)."""
        data: dict[str, Any] = self.model_dump(mode="json")
        for key in OPTIONAL_MEASUREMENTS:
            if data["measured"][key] is None:
                del data["measured"][key]
        return data


def _measure(
    spect: Image,
    vois_spect: Vois,
    vois_volume: Vois,
    density: np.ndarray[Any, Any] | None,
    name: str,
) -> MeasuredVoi:
    mask = vois_spect[name]
    counts = float(spect.array[mask].sum(dtype=np.float64))
    volume_spect = vois_spect.volume_ml(name)
    mean_density = ct_mass = None
    if density is not None:
        mask_volume = vois_volume[name]
        mean_density = float(density[mask_volume].mean())
        ct_mass = float(density[mask_volume].sum()) * vois_volume.grid.voxel_volume_ml / 1000.0
    return MeasuredVoi(
        volume_ml=vois_volume.volume_ml(name),
        volume_on_spect_grid_ml=volume_spect,
        counts=counts,
        mean_counts_per_ml=counts / volume_spect,
        mean_ct_density_g_ml=mean_density,
        ct_mass_kg=ct_mass,
    )


def _ct_density_on_ct(ct: Image) -> np.ndarray[Any, Any]:
    """Density (g/mL) of every CT voxel (the CT grid is its own dose grid here)."""
    return np.asarray(hu_to_density(ct.array).density_g_ml, dtype=np.float64)


@dataclass(frozen=True)
class _VoiAlignment:
    """How the VOIs reach the SPECT: in place (no transform), or carried from ``rois_ct``."""

    sentence: str
    rois_ct: Image | None = None
    transform: sitk.Transform | None = None
    report: RegistrationReport | None = None
    warnings: tuple[str, ...] = ()


def _check_alignment_options(
    rois_ct_path: str | Path | None,
    transform_path: str | Path | None,
    registration_options: RegistrationOptions | None,
) -> None:
    """Refuse, before any image is read, what only goes with ``rois_ct``."""
    if rois_ct_path is not None:
        return
    for what, value in (
        (
            "the transform file (which maps points of the MAA SPECT/CT to that image)",
            transform_path,
        ),
        ("the registration's options", registration_options),
    ):
        if value is not None:
            raise InputError(
                "rois_ct", None, f"the image the VOIs were drawn on, to go with {what}"
            )


def _align_vois(
    spect: Image,
    ct: Image | None,
    ct_path: str | Path | None,
    rois_ct_path: str | Path | None,
    transform_path: str | Path | None,
    registration_options: RegistrationOptions | None,
    stages: Stages,
) -> _VoiAlignment:
    """Decide how the VOIs reach the SPECT (module docstring), registering if needed."""
    if rois_ct_path is None:
        return _VoiAlignment("VOIs in the SPECT's frame of reference")
    rois_ct = read_study_ct(
        rois_ct_path, field="rois_ct", frame_of_reference_uid=None, whose="the VOIs' image"
    )
    frame = spect.frame_of_reference_uid
    if frame is not None and rois_ct.frame_of_reference_uid == frame:
        for field, value in (
            ("transform", transform_path),
            ("registration_options", registration_options),
        ):
            if value is not None:
                raise InputError(
                    field,
                    str(value),
                    f"none: rois_ct is in the SPECT's frame of reference ({frame}), so the "
                    "VOIs are used in place",
                )
        return _VoiAlignment(
            "VOIs in the SPECT's frame of reference",
            warnings=(
                f"rois_ct {rois_ct_path} is in the SPECT's frame of reference ({frame}): "
                "the VOIs were used in place, nothing was registered",
            ),
        )
    if transform_path is not None:
        if registration_options is not None:
            raise InputError("registration_options", registration_options, "none with a transform")
        return _VoiAlignment(
            f"VOIs drawn on {rois_ct_path}, carried to the SPECT through the transform "
            f"{transform_path} (MAA SPECT/CT -> VOIs' image points)",
            rois_ct=rois_ct,
            transform=read_transform(transform_path, rigid=False),
        )
    if ct is None or ct_path is None:
        raise InputError(
            "ct",
            None,
            "the CT of the MAA SPECT/CT: VOIs drawn on another image (rois_ct) are carried "
            "to the SPECT by registering that image onto this CT (or give a transform file)",
        )
    stages.report(0.15, "registering the VOIs' image onto the MAA SPECT/CT's CT")
    transform, report = register_studies(
        ct,
        rois_ct,
        fixed_name=str(ct_path),
        moving_name=str(rois_ct_path),
        fixed_field="ct",
        moving_field="rois_ct",
        points="points of the MAA SPECT/CT to points of the image the VOIs were drawn on",
        options=registration_options,
    )
    return _VoiAlignment(
        f"VOIs drawn on {rois_ct_path}, carried to the SPECT through an automatic "
        f"{report.kind} registration of that image onto the MAA SPECT/CT's CT "
        f"(NMI {report.nmi_final:.3f})",
        rois_ct=rois_ct,
        transform=transform,
        report=report,
    )


def _read_vois(
    rois_path: str | Path,
    grid: Grid,
    roi_names: str | Mapping[Any, Any] | None,
    rois_ct_path: str | Path | None,
) -> tuple[Vois, VoiSource]:
    """The VOIs on ``grid``; a frame-of-reference refusal says how to carry them."""
    try:
        return read_vois(rois_path, grid, roi_names=roi_names)
    except GeometryError as exc:
        if rois_ct_path is not None or "FrameOfReferenceUID" not in exc.detail:
            raise
        raise GeometryError(
            f"{exc.detail}. VOIs drawn on another image (a diagnostic CT): give rois_ct, "
            "that image, to carry them to the SPECT by registration",
            field=exc.field,
        ) from None


def plan_from_images(
    spect_path: str | Path,
    rois_path: str | Path,
    *,
    liver_roi: str,
    tumor_rois: Sequence[str],
    normal_dose_gy: float | None = None,
    tumor_dose_gy: float | None = None,
    ct_path: str | Path | None = None,
    lung_roi: str | None = None,
    roi_names: str | Mapping[Any, Any] | None = None,
    lsf: float | None = None,
    plan_options: Mapping[str, Any] | None = None,
    settings: ClinicalSettings = DEFAULT_SETTINGS,
    progress: ProgressFn | None = None,
    rois_ct_path: str | Path | None = None,
    transform_path: str | Path | None = None,
    registration_options: RegistrationOptions | None = None,
) -> FromImagesResult:
    """Partition plan from an MAA SPECT (and CT) and its VOIs (module docstring).

    Parameters
    ----------
    spect_path
        MAA SPECT: DICOM folder or file, or NIfTI/NRRD/MHA (counts).
    rois_path
        RTSTRUCT or label map holding the liver, tumour(s) and optionally lung VOIs.
    liver_roi, tumor_rois
        Name of the whole-liver VOI (the perfused liver), names of the tumour VOIs.
    normal_dose_gy, tumor_dose_gy
        Exactly one target (normal liver, or the lowest-TN tumour), Gy.
    ct_path
        CT for finer VOI volumes and reported densities.
    lung_roi
        Lung VOI: measures the LSF.
    roi_names
        Label names of a label map (JSON).
    lsf
        Lung shunt fraction to use (0..1); required without ``lung_roi``.
    plan_options
        Further fields of :class:`PartitionPlanInput` (``product``, ``residual``,
        ``lung_mass_kg``, ``density_g_ml``, ``delivery``, ``energy_j_per_gbq``...).
    settings
        Clinical settings for the plan's findings.
    progress
        ``progress(fraction, stage)``.
    rois_ct_path
        The image the VOIs were drawn on (a diagnostic CT, or an MR), when it is not the
        MAA SPECT/CT: the VOIs are carried to the SPECT (module docstring).
    transform_path
        With ``rois_ct_path``: an ITK transform file mapping points of the MAA SPECT/CT to
        points of that image (rigid, or rigid + B-spline); nothing is registered then.
    registration_options
        Options of the automatic registration (``RegistrationOptions(deformable=True)``
        adds a B-spline stage).

    Raises
    ------
    InputError
        Bad options (named), no LSF source, a tumour named twice.
    ImageError
        Unreadable inputs, empty or outside VOIs (or, carried, cut by the SPECT's field of
        view), no counts in the normal liver.
    RegistrationError
        (``transform``) the automatic registration failed; the message says why.

    Examples
    --------
    >>> r = plan_from_images("maa/", "rs.dcm", liver_roi="liver", tumor_rois=["t1"],
    ...                      normal_dose_gy=40, lung_roi="lungs")  # doctest: +SKIP
    >>> r.measured.tn_ratios, r.plan.activity_gbq  # doctest: +SKIP
    """
    stages = Stages(progress)
    tumours = list(tumor_rois)
    if not tumours:
        raise InputError("tumor_rois", tumours, "at least one tumour VOI name")
    if len(set(tumours)) != len(tumours):
        raise InputError("tumor_rois", tumours, "each tumour named once")
    if liver_roi in tumours:
        raise InputError("liver_roi", liver_roi, "a VOI other than the tumours")
    if lsf is None and lung_roi is None:
        raise InputError("lsf", None, "a lung shunt fraction 0..1, or lung_roi to measure it")
    if lsf is not None and not (math.isfinite(float(lsf)) and 0.0 <= float(lsf) < 1.0):
        raise InputError("lsf", lsf, "a fraction 0 <= LSF < 1 (not a percentage)")

    _check_alignment_options(rois_ct_path, transform_path, registration_options)
    stages.report(0.05, "reading the MAA SPECT")
    spect = read_emission_image(spect_path)
    if float(spect.array.min()) < 0:
        raise ImageError(f"{spect_path}: negative voxel values; counts must be >= 0", field="spect")
    ct = None
    if ct_path is not None:
        ct = read_study_ct(
            ct_path,
            field="ct",
            frame_of_reference_uid=spect.frame_of_reference_uid,
            whose="the MAA SPECT/CT",
        )
    wanted = [liver_roi, *tumours] + ([lung_roi] if lung_roi else [])
    alignment = _align_vois(
        spect,
        ct,
        ct_path,
        rois_ct_path,
        transform_path,
        registration_options,
        stages,
    )
    stages.report(0.3, "reading the VOIs")
    read_on = spect.grid if alignment.rois_ct is None else alignment.rois_ct.grid
    outside: dict[str, float] = {}
    if lung_roi is None or alignment.rois_ct is not None:
        vois_read, source = _read_vois(rois_path, read_on, roi_names, rois_ct_path)
    else:  # the lung VOI may extend beyond the SPECT: measure how much, refuse the others
        vois_read, source, outside = read_vois_outside(rois_path, spect.grid, roi_names=roi_names)
        refuse_cut(outside, [liver_roi, *tumours], rois_path)
    missing = [name for name in wanted if name not in vois_read]
    if missing:
        option = "lung_roi" if missing == [lung_roi] else "tumor_rois"
        if liver_roi in missing:
            option = "liver_roi"
        raise InputError(option, missing, f"VOI names in {rois_path}: {sorted(vois_read)}")
    warnings: list[str] = list(alignment.warnings)
    selected = vois_read.select(wanted)

    def on(grid: Grid, onto: str) -> Vois:
        """The selected VOIs on the CT grid (read there, or carried)."""
        if alignment.transform is None:
            return read_vois(rois_path, grid, roi_names=roi_names)[0].select(wanted)
        return carry_vois_inside(selected, alignment.transform, grid, onto=onto)

    on_spect = selected
    if alignment.transform is not None:
        on_spect = carry_vois_inside(
            selected, alignment.transform, spect.grid, onto="the SPECT grid"
        )
    vois_spect, note = with_whole_liver(on_spect, liver_roi, tumours)
    if note:
        warnings.append(note)
    vois_spect = with_normal_liver(vois_spect, liver=liver_roi, tumours=tumours)
    density = None
    vois_volume = vois_spect
    if ct is not None:
        stages.report(0.5, "VOIs on the CT grid")
        vois_ct, _ = with_whole_liver(on(ct.grid, "the CT grid"), liver_roi, tumours)
        vois_volume = with_normal_liver(vois_ct, liver=liver_roi, tumours=tumours)
        density = _ct_density_on_ct(ct)

    stages.report(0.8, "measuring")
    names = [*tumours, "normal_liver", liver_roi] + ([lung_roi] if lung_roi else [])
    measured = {name: _measure(spect, vois_spect, vois_volume, density, name) for name in names}
    normal = measured["normal_liver"]
    if normal.counts <= 0:
        raise ImageError(
            f"{spect_path}: no counts in the normal liver ({liver_roi!r} minus the "
            "tumours); the TN ratio is undefined",
            field="spect",
        )
    tn = [measured[t].mean_counts_per_ml / normal.mean_counts_per_ml for t in tumours]
    zero = [t for t, ratio in zip(tumours, tn, strict=True) if ratio <= 0]
    if zero:
        raise ImageError(
            f"{spect_path}: tumour VOI(s) {zero} hold no counts (TN = 0); a partition "
            "plan needs tumours that take up MAA",
            field="spect",
        )
    lsf_measured = None
    if lung_roi is not None:
        lung_counts = measured[lung_roi].counts
        liver_counts = measured[liver_roi].counts
        lsf_measured = lung_counts / (lung_counts + liver_counts)
        warnings.append(LUNG_FOV_WARNING)
    lsf_used = float(lsf) if lsf is not None else float(lsf_measured)  # type: ignore[arg-type]
    if lsf is not None and lsf_measured is not None:
        warnings.append(
            f"the plan uses the given LSF {lsf_used:.4f}; the SPECT VOIs give {lsf_measured:.4f}"
        )
    extra_findings = []
    if lung_roi is not None and lsf_measured is not None:
        fov = lung_fov_finding(
            lung_roi,
            outside.get(lung_roi, 0.0),
            reaches_a_face(vois_spect[lung_roi]),
            lsf_measured,
            lsf_used=lsf is None,
        )
        extra_findings += [fov] if fov is not None else []
    lung_mass: dict[str, Any] | None = None
    if ct is not None:
        stages.report(0.9, "lung mass on the CT")
        lung, used, lung_note = _ct_lung_mass(ct, plan_options or {})
        warnings += [lung_note] if lung_note else []
        if lung is not None:
            lung_mass = {**lung.to_dict(), "used": used}
        if lung is not None and used:
            plan_options = {**(plan_options or {}), "lung_mass_kg": lung.lung_mass_kg}
            extra_findings.append(measured_lung_mass_finding(lung))
    data: dict[str, Any] = {
        **(plan_options or {}),
        "tumor_volume_ml": [measured[t].volume_ml for t in tumours],
        "tn_ratio": tn,
        "normal_volume_ml": normal.volume_ml,
        "lsf": lsf_used,
        "normal_dose_gy": normal_dose_gy,
        "tumor_dose_gy": tumor_dose_gy,
    }
    data = {key: value for key, value in data.items() if value is not None}
    plan_input = parse(PartitionPlanInput, data)
    plan: PlanResult = plan_partition(plan_input, settings)
    if extra_findings:
        plan = plan.model_copy(update={"findings": [*plan.findings, *extra_findings]})
    stages.report(1.0, "done")
    return FromImagesResult(
        plan=plan,
        measured=FromImagesMeasurements(
            tn_ratios=dict(zip(tumours, tn, strict=True)),
            lsf_measured=lsf_measured,
            lsf_used=lsf_used,
            lsf_source="given"
            if lsf is not None
            else f"SPECT VOIs {lung_roi!r} / ({lung_roi!r} + {liver_roi!r})",
            volumes_from="CT grid" if ct is not None else "SPECT grid",
            vois=measured,
            voi_source=VoiSourceInfo(path=source.path, kind=source.kind),
            spect_units=spect.units,
            spect_spacing_mm=list(spect.spacing_mm),
            lung_voi_outside_fov=outside.get(lung_roi) if lung_roi is not None else None,
            lung_mass=lung_mass,
        ),
        plan_input=plan_input,
        warnings=warnings,
        registration=alignment.sentence,
        transform_path=None if transform_path is None else str(transform_path),
        automatic_registration=alignment.report,
    )


def _ct_lung_mass(
    ct: Image, plan_options: Mapping[str, Any]
) -> tuple[LungMass | None, bool, str | None]:
    """The CT's lung measurement (None if no lungs), whether the plan uses it, and a note
    for the warnings when it does not: lungs cut by the CT, or ``lung_mass_kg`` given."""
    try:
        measured, _ = measure_lung_mass(ct)
    except ImageError as exc:
        return None, False, f"no lung mass measured on the CT ({exc})"
    if not measured.complete:
        return (
            measured,
            False,
            (
                f"the lungs reach the {', '.join(measured.cut_at)} of the CT: its lung mass "
                f"({measured.lung_mass_kg:.3f} kg) is incomplete and not used"
            ),
        )
    given = plan_options.get("lung_mass_kg")
    if given is not None:
        return (
            measured,
            False,
            (
                f"the plan uses the given lung mass {float(given):g} kg; the CT gives "
                f"{measured.lung_mass_kg:.3f} kg"
            ),
        )
    return measured, True, None

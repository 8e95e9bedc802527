"""DICOM RT Dose export (PS3.3 A.18, RT Dose module C.8.8.3) of an absorbed-dose map.

The dose grid is stored as 32-bit unsigned integers ``stored = round(dose_gy / s)`` with
``DoseGridScaling`` ``s = max(dose_gy) / (2**32 - 1)`` (rounded up to a 16-character DS),
so the quantisation error is at most ``s / 2`` (about 1.2e-10 of the maximum dose).
Frames are the grid's slices: ImagePositionPatient is the first frame's, and
``GridFrameOffsetVector`` holds each frame's distance along ``row x column`` from it
(the relative form, first value 0, PS3.3 C.8.8.3.2).

The object references the CT (or other image) the dose belongs to: same
FrameOfReferenceUID and StudyInstanceUID, and the Patient and General Study attributes
copied from it, so planning systems and viewers overlay it without registration.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from y90dose.errors import InputError
from y90dose.imaging.dicom_write import (
    RT_DOSE_STORAGE,
    StudyInfo,
    _save,
    _uid,
    ds_value,
    ds_values,
    new_dataset,
    set_pixels,
)
from y90dose.imaging.image import Image, require_same_frame

_UINT32_MAX = 2**32 - 1
_SLAB_VOXELS = 1 << 20  # voxels per slab converted to stored values at a time
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"


def build_rtplan(
    reference: Image,
    *,
    label: str = "Y90 SIRT",
    uid_seed: str | None = None,
    content_datetime: dt.datetime | None = None,
) -> Dataset:
    """A minimal RT Plan (RT General Plan module only) that an RTDOSE can reference.

    A radioembolization has no beams or brachytherapy sources in the DICOM sense; the
    plan only anchors DoseSummationType PLAN. RTPlanGeometry is TREATMENT_DEVICE (the
    plan references no structure set, PS3.3 C.8.8.9.1).

    Returns
    -------
    Dataset
        The plan (its SOPInstanceUID is the one an RT Dose references); the caller saves
        it (:meth:`RtDose.save`, or ``dataset.save_as``).
    """
    study = StudyInfo.from_image(reference)
    uid = _uid(uid_seed, "rtplan")
    ds = new_dataset(
        sop_class_uid=RT_PLAN_STORAGE,
        sop_instance_uid=uid,
        modality="RTPLAN",
        study=study,
        series_instance_uid=_uid(uid_seed, "rtplan-series"),
        series_number=99,
        series_description=label,
        content_datetime=content_datetime,
    )
    del ds.ContentDate, ds.ContentTime
    ds.OperatorsName = ""
    ds.InstanceNumber = 1
    ds.RTPlanLabel = label[:16]
    ds.RTPlanDate = ds.InstanceCreationDate
    ds.RTPlanTime = ds.InstanceCreationTime
    ds.RTPlanGeometry = "TREATMENT_DEVICE"
    ds.ApprovalStatus = "UNAPPROVED"
    return ds


@dataclass(frozen=True)
class RtDose:
    """An RT Dose dataset and, when it references a plan built with it, that plan.

    :func:`build_rtdose` builds it; :meth:`save` writes it (the plan beside the dose as
    ``<stem>_plan.dcm``).
    """

    dose: Dataset
    plan: Dataset | None = None

    def save(self, path: str | Path) -> Path:
        """Write the dose to ``path`` (and the plan beside it); parents are created.

        Raises
        ------
        ImageError
            If a file cannot be written.
        """
        target = Path(path)
        if self.plan is not None:
            _save(self.plan, plan_path(target))
        return _save(self.dose, target)


def plan_path(rtdose_path: Path) -> Path:
    """Where :meth:`RtDose.save` writes the plan of an RT Dose file: ``<stem>_plan.dcm``."""
    return rtdose_path.with_name(rtdose_path.stem + "_plan.dcm")


def dose_grid_scaling(max_dose_gy: float) -> float:
    """DoseGridScaling (Gy per stored unit) as stored: the DS-rounded value >= max/(2^32-1).

    Examples
    --------
    >>> dose_grid_scaling(0.0)
    1.0
    >>> round(4294967295 * dose_grid_scaling(100.0), 6) >= 100.0
    True
    """
    if max_dose_gy <= 0:
        return 1.0
    scaling = float(ds_value(max_dose_gy / _UINT32_MAX * (1 + 1e-9)))
    while max_dose_gy / scaling > _UINT32_MAX:
        scaling = float(ds_value(scaling * (1 + 1e-6)))
    return scaling


def _stored_values(values: npt.NDArray[np.floating], scaling: float) -> npt.NDArray[np.uint32]:
    """rint(dose / DoseGridScaling) as uint32, in float64 slab by slab (small temporaries)."""
    stored = np.empty(values.shape, dtype=np.uint32)
    step = max(1, _SLAB_VOXELS // max(1, values[0].size)) if values.shape[0] else 1
    for z0 in range(0, values.shape[0], step):
        part = np.divide(values[z0 : z0 + step], scaling, dtype=np.float64)
        np.rint(part, out=stored[z0 : z0 + step], casting="unsafe")
    return stored


def build_rtdose(
    dose_gy: Image,
    reference: Image,
    *,
    series_description: str = "Y-90 absorbed dose",
    dose_comment: str | None = None,
    uid_seed: str | None = None,
    content_datetime: dt.datetime | None = None,
    rt_plan_uid: str | None = None,
) -> RtDose:
    """An absorbed-dose map (Gy) as a DICOM RT Dose dataset (the caller saves it).

    Parameters
    ----------
    dose_gy
        Dose in Gy on any grid in the reference's frame of reference (typically the CT
        grid after :func:`~y90dose.imaging.resample.resample_image`). ``units`` must be
        ``"GY"`` or ``None``.
    reference
        The DICOM image (usually the CT) whose frame of reference, study and patient the
        dose belongs to.
    series_description, dose_comment
        Free text (dose_comment: e.g. the method, "LDM, 50 J/GBq").
    uid_seed
        Makes the generated UIDs deterministic (tests); random when ``None``.
    rt_plan_uid
        SOPInstanceUID of the RT Plan this dose belongs to. DoseSummationType is PLAN,
        for which DICOM requires ReferencedRTPlanSequence (Type 1C); when ``None`` a
        minimal RT Plan (:func:`build_rtplan`) is built and referenced, and
        :meth:`RtDose.save` writes it beside the dose as ``<stem>_plan.dcm``, so the pair
        is a valid, self-contained export.

    Returns
    -------
    RtDose
        The dose dataset (and the plan built for it); ``.save(path)`` writes them.

    Raises
    ------
    InputError
        If the dose has negative or non-finite values, other units, a left-handed grid,
        or the reference is not a DICOM image.
    GeometryError
        If the dose's and the reference's FrameOfReferenceUIDs are both known and differ.

    Examples
    --------
    >>> build_rtdose(dose_on_ct, ct, dose_comment="LDM").save("RD.dcm")  # doctest: +SKIP
    """
    if dose_gy.units is not None and dose_gy.units.upper() != "GY":
        raise InputError("dose_gy.units", dose_gy.units, "'GY' (absorbed dose in gray)")
    values = np.asarray(dose_gy.array)  # float32 or float64; in float64 slab by slab below
    if not np.isfinite(values).all():
        raise InputError("dose_gy", "non-finite voxel values", "finite doses >= 0 Gy")
    if values.min() < 0:
        raise InputError("dose_gy", f"minimum {values.min():.6g} Gy", "doses >= 0 Gy")
    study = StudyInfo.from_image(reference)
    require_same_frame(
        dose_gy.frame_of_reference_uid,
        reference.frame_of_reference_uid,
        what_a="the dose map",
        what_b="the reference image",
    )
    grid = dose_gy.grid
    row, col = grid.direction[:, 0], grid.direction[:, 1]
    normal = np.cross(row, col)
    along = float(normal @ grid.direction[:, 2])
    if abs(abs(along) - 1.0) > 1e-4:
        raise InputError("dose_gy.direction", grid.direction.tolist(), "an orthonormal grid")

    ds = new_dataset(
        sop_class_uid=RT_DOSE_STORAGE,
        sop_instance_uid=_uid(uid_seed, "rtdose"),
        modality="RTDOSE",
        study=study,
        series_instance_uid=_uid(uid_seed, "rtdose-series"),
        series_number=100,
        series_description=series_description,
        content_datetime=content_datetime,
    )
    ds.OperatorsName = ""
    ds.InstanceNumber = 1
    ds.ImageOrientationPatient = ds_values(np.concatenate([row, col]))
    ds.ImagePositionPatient = ds_values(grid.origin_mm)
    ds.PixelSpacing = ds_values([grid.spacing_mm[1], grid.spacing_mm[0]])
    ds.SliceThickness = ds_value(grid.spacing_mm[2])
    n_frames = grid.shape_zyx[0]
    ds.NumberOfFrames = n_frames
    ds.FrameIncrementPointer = pydicom.tag.Tag("GridFrameOffsetVector")
    # Offsets along the normal: negative when the slice axis points against row x column.
    ds.GridFrameOffsetVector = ds_values(np.arange(n_frames) * grid.spacing_mm[2] * np.sign(along))
    scaling = dose_grid_scaling(float(values.max()))
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    ds.DoseGridScaling = ds_value(scaling)
    if dose_comment:
        ds.DoseComment = dose_comment[:10240]
    built_plan = None
    if rt_plan_uid is None:
        built_plan = build_rtplan(reference, uid_seed=uid_seed, content_datetime=content_datetime)
        rt_plan_uid = str(built_plan.SOPInstanceUID)
    plan = Dataset()
    plan.ReferencedSOPClassUID = RT_PLAN_STORAGE
    plan.ReferencedSOPInstanceUID = rt_plan_uid
    ds.ReferencedRTPlanSequence = DicomSequence([plan])
    ds.TissueHeterogeneityCorrection = "IMAGE"
    set_pixels(ds, _stored_values(values, scaling))
    return RtDose(ds, built_plan)


def referenced_plan(ds: Dataset) -> str | None:
    """ReferencedSOPInstanceUID of the RT Plan an RTDOSE refers to, if any."""
    plans = ds.get("ReferencedRTPlanSequence")
    if plans and "ReferencedSOPInstanceUID" in plans[0]:
        return str(plans[0].ReferencedSOPInstanceUID)
    return None

"""Writing DICOM objects: CT series, PT/NM series, multi-frame NM, RTSTRUCT.

These writers serve the phantom generator and the tests (a synthetic study that every
reader and the RTSTRUCT rasteriser must handle) and export of derived objects. They
produce Explicit VR Little Endian files with a valid File Meta Information header
(PS3.10 7.1), the Patient, General Study, Series, Frame of Reference, General Equipment,
Image Plane and Image Pixel modules, and copy the Patient and Study attributes from a
reference image where one is given. The RT Dose writer is in :mod:`y90dose.imaging.rtdose`.

Contours of masks (:func:`mask_to_contours_mm`) come from marching squares (contourpy,
the contour engine of matplotlib) at level 0.5 on each slice, zero-padded so every
contour closes. The iso-line passes half way between an inside and an outside voxel
centre, so rasterising it again by voxel-centre inclusion with the even-odd rule
(:mod:`y90dose.imaging.rtstruct`) gives back the mask exactly, diagonal saddles included
(property-tested on random masks).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import contourpy
import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

import y90dose
from y90dose.errors import ImageError, InputError
from y90dose.imaging.image import Grid, Image

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
NM_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.20"
RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"

#: Manufacturer written into the General Equipment module.
MANUFACTURER = "y90dose"
#: Offset added to HU before storing CT as signed 16-bit with RescaleIntercept = -1024.
CT_RESCALE_INTERCEPT_HU = -1024.0

_INT16_MAX = 32767


def ds_value(value: float) -> str:
    """A number formatted as a valid DICOM DS (at most 16 characters)."""
    return format_number_as_ds(float(value))


def ds_values(values: Sequence[float] | npt.NDArray[Any]) -> list[str]:
    """Numbers formatted as DS strings."""
    return [ds_value(v) for v in np.asarray(values, dtype=np.float64).ravel()]


@dataclass(frozen=True)
class StudyInfo:
    """Patient and study of a synthetic or exported object, plus its frame of reference.

    ``from_image`` copies them from an image read from DICOM.
    """

    study_instance_uid: str
    frame_of_reference_uid: str
    patient_study: Mapping[str, Any]

    @classmethod
    def new(
        cls,
        *,
        patient_name: str = "Phantom^Y90",
        patient_id: str = "Y90DOSE-PHANTOM",
        study_date: str = "20260101",
        uid_prefix: str | None = None,
    ) -> StudyInfo:
        """A fresh study with new UIDs (``uid_prefix`` + a hash makes them deterministic)."""
        study_uid = generate_uid(entropy_srcs=[uid_prefix, "study"] if uid_prefix else None)
        frame_uid = generate_uid(entropy_srcs=[uid_prefix, "frame"] if uid_prefix else None)
        return cls(
            study_uid,
            frame_uid,
            {
                "PatientName": patient_name,
                "PatientID": patient_id,
                "PatientBirthDate": "",
                "PatientSex": "O",
                "StudyInstanceUID": study_uid,
                "StudyDate": study_date,
                "StudyTime": "120000",
                "StudyID": "1",
                "AccessionNumber": "",
                "ReferringPhysicianName": "",
            },
        )

    @classmethod
    def from_image(cls, image: Image) -> StudyInfo:
        """The study of a DICOM image.

        Raises
        ------
        InputError
            If the image has no StudyInstanceUID or FrameOfReferenceUID (not from DICOM).
        """
        if image.study_instance_uid is None or image.frame_of_reference_uid is None:
            lacking = (
                "StudyInstanceUID" if image.study_instance_uid is None else "FrameOfReferenceUID"
            )
            raise InputError(
                "reference",
                f"image without {lacking}",
                "an image read from DICOM (its study and frame of reference are referenced)",
            )
        return cls(image.study_instance_uid, image.frame_of_reference_uid, image.patient_study)


def _uid(seed: str | None, *parts: object) -> str:
    return generate_uid(entropy_srcs=[seed, *map(str, parts)] if seed else None)


def new_dataset(
    *,
    sop_class_uid: str,
    sop_instance_uid: str,
    modality: str,
    study: StudyInfo,
    series_instance_uid: str,
    series_number: int,
    series_description: str,
    content_datetime: dt.datetime | None = None,
) -> Dataset:
    """A dataset with file meta, SOP Common, Patient, Study, Series, Frame of Reference and
    General Equipment modules filled (type 2 attributes empty when unknown)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"Y90DOSE_{y90dose.__version__}"[:16]
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    when = content_datetime or dt.datetime(2026, 1, 1, 12, 0, 0)
    ds.InstanceCreationDate = when.strftime("%Y%m%d")
    ds.InstanceCreationTime = when.strftime("%H%M%S")
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"):
        setattr(ds, keyword, str(study.patient_study.get(keyword, "")))
    ds.StudyInstanceUID = study.study_instance_uid
    for keyword in (
        "StudyDate",
        "StudyTime",
        "ReferringPhysicianName",
        "StudyID",
        "AccessionNumber",
    ):
        setattr(ds, keyword, str(study.patient_study.get(keyword, "")))
    if "StudyDescription" in study.patient_study:
        ds.StudyDescription = str(study.patient_study["StudyDescription"])
    ds.Modality = modality
    ds.SeriesInstanceUID = series_instance_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description[:64]
    ds.SeriesDate = when.strftime("%Y%m%d")
    ds.SeriesTime = when.strftime("%H%M%S")
    ds.FrameOfReferenceUID = study.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = MANUFACTURER
    ds.SoftwareVersions = y90dose.__version__
    ds.ContentDate = when.strftime("%Y%m%d")
    ds.ContentTime = when.strftime("%H%M%S")
    return ds


def set_plane(ds: Dataset, grid: Grid, k: int) -> None:
    """Image Plane attributes of slice ``k`` of ``grid``."""
    row, col = grid.direction[:, 0], grid.direction[:, 1]
    ds.ImageOrientationPatient = ds_values(np.concatenate([row, col]))
    ds.ImagePositionPatient = ds_values(grid.index_to_physical_mm([0.0, 0.0, float(k)]))
    ds.PixelSpacing = ds_values([grid.spacing_mm[1], grid.spacing_mm[0]])
    ds.SliceThickness = ds_value(grid.spacing_mm[2])


def require_right_handed(grid: Grid) -> None:
    """Refuse grids whose slice axis is not row x column (DICOM stacks need it so)."""
    normal = np.cross(grid.direction[:, 0], grid.direction[:, 1])
    if float(normal @ grid.direction[:, 2]) < 0.999:
        raise InputError(
            "direction",
            grid.direction.tolist(),
            "a right-handed direction (slice axis = row x column), as DICOM slices require",
        )


def set_pixels(ds: Dataset, pixels: npt.NDArray[Any]) -> None:
    """Image Pixel module for a 2-D or 3-D (frames) integer array."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(pixels.shape[-2]), int(pixels.shape[-1])
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if np.issubdtype(pixels.dtype, np.signedinteger) else 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OW"


def _save(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        ds.save_as(path, enforce_file_format=True)
    except (OSError, ValueError) as error:
        raise ImageError(f"cannot write DICOM file {path}: {error}") from error
    return path


def write_ct_series(
    hu: Image,
    folder: str | Path,
    *,
    study: StudyInfo,
    series_number: int = 1,
    series_description: str = "CT",
    uid_seed: str | None = None,
) -> list[Path]:
    """Write a CT volume in HU as one single-frame CT file per slice.

    Values are rounded to integer HU and stored as signed 16-bit with RescaleSlope 1 and
    RescaleIntercept -1024 (stored = HU + 1024).

    Returns
    -------
    list of Path
        The files, slice 0 first (``CT_0000.dcm``...).

    Raises
    ------
    InputError
        If a value is outside [-1024, 31743] HU, not finite, or the grid is left-handed.
    """
    require_right_handed(hu.grid)
    stored = np.rint(hu.array) - CT_RESCALE_INTERCEPT_HU
    if not np.isfinite(stored).all() or stored.min() < -_INT16_MAX - 1 or stored.max() > _INT16_MAX:
        raise InputError(
            "hu",
            f"range [{np.nanmin(hu.array)}, {np.nanmax(hu.array)}]",
            f"finite HU within [{-_INT16_MAX - 1 + CT_RESCALE_INTERCEPT_HU:.0f}, "
            f"{_INT16_MAX + CT_RESCALE_INTERCEPT_HU:.0f}]",
        )
    folder = Path(folder)
    series_uid = _uid(uid_seed, "ct-series")
    paths = []
    for k in range(hu.shape_zyx[0]):
        ds = new_dataset(
            sop_class_uid=CT_IMAGE_STORAGE,
            sop_instance_uid=_uid(uid_seed, "ct", k),
            modality="CT",
            study=study,
            series_instance_uid=series_uid,
            series_number=series_number,
            series_description=series_description,
        )
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.BodyPartExamined = "ABDOMEN"
        ds.InstanceNumber = k + 1
        ds.AcquisitionNumber = 1
        ds.KVP = ""
        ds.PatientPosition = "HFS"
        set_plane(ds, hu.grid, k)
        ds.RescaleIntercept = ds_value(CT_RESCALE_INTERCEPT_HU)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        set_pixels(ds, stored[k].astype(np.int16))
        paths.append(_save(ds, folder / f"CT_{k:04d}.dcm"))
    return paths


def _slope_for(values: npt.NDArray[np.float64]) -> float:
    """RescaleSlope (as stored, DS-rounded) that maps |values| into int16."""
    peak = float(np.abs(values).max())
    if peak == 0:
        return 1.0
    slope = float(ds_value(peak / _INT16_MAX * (1 + 1e-9)))
    while np.rint(peak / slope) > _INT16_MAX:  # DS rounding could make it a hair small
        slope = float(ds_value(slope * (1 + 1e-6)))
    return slope


def _check_activity(image: Image, name: str) -> None:
    if not np.isfinite(image.array).all():
        raise InputError(name, "non-finite voxel values", "finite numbers")


def write_pt_series(
    activity: Image,
    folder: str | Path,
    *,
    study: StudyInfo,
    modality: str = "PT",
    units: str = "BQML",
    series_number: int = 2,
    series_description: str = "SPECT",
    uid_seed: str | None = None,
    decay_correction: str = "START",
    radiopharmaceutical_start: dt.datetime | None = None,
    injected_activity_bq: float | None = None,
    half_life_s: float | None = None,
) -> list[Path]:
    """Write a quantitative volume as single-frame PT (or NM) files, one per slice.

    Each slice has its own RescaleSlope (intercept 0) so that it uses the full signed
    16-bit range, as PET scanners store them; values are ``stored x slope`` in ``units``.

    Parameters
    ----------
    activity
        Values in ``units`` (Bq/mL for ``"BQML"``).
    modality
        ``"PT"`` (PET Image Storage) or ``"NM"`` (NM Image Storage, one frame per file,
        position also in DetectorInformationSequence).
    decay_correction
        PET DecayCorrection: ``"START"``, ``"ADMIN"`` or ``"NONE"``.
    radiopharmaceutical_start, injected_activity_bq, half_life_s
        Written into RadiopharmaceuticalInformationSequence when given.

    Raises
    ------
    InputError
        If values are not finite, modality is not PT/NM, or the grid is left-handed.
    """
    if modality not in ("PT", "NM"):
        raise InputError("modality", modality, "'PT' or 'NM'")
    require_right_handed(activity.grid)
    _check_activity(activity, "activity")
    folder = Path(folder)
    series_uid = _uid(uid_seed, f"{modality}-series")
    n_slices = activity.shape_zyx[0]
    paths = []
    for k in range(n_slices):
        ds = new_dataset(
            sop_class_uid=PET_IMAGE_STORAGE if modality == "PT" else NM_IMAGE_STORAGE,
            sop_instance_uid=_uid(uid_seed, modality, k),
            modality=modality,
            study=study,
            series_instance_uid=series_uid,
            series_number=series_number,
            series_description=series_description,
        )
        ds.InstanceNumber = k + 1
        ds.BodyPartExamined = "ABDOMEN"
        ds.Units = units
        ds.AcquisitionDate = ds.SeriesDate
        ds.AcquisitionTime = ds.SeriesTime
        ds.PatientOrientationCodeSequence = DicomSequence()
        ds.PatientGantryRelationshipCodeSequence = DicomSequence()
        _set_radiopharmaceutical(ds, radiopharmaceutical_start, injected_activity_bq, half_life_s)
        values = activity.array[k].astype(np.float64)
        slope = _slope_for(values)
        ds.RescaleSlope = ds_value(slope)
        ds.RescaleIntercept = "0"
        if modality == "PT":
            set_plane(ds, activity.grid, k)
            ds.DecayCorrection = decay_correction
            ds.ImageType = ["ORIGINAL", "PRIMARY"]
            ds.CountsSource = "EMISSION"
            ds.CollimatorType = "NONE"
            ds.SeriesType = ["STATIC", "IMAGE"]
            ds.NumberOfSlices = n_slices
            ds.CorrectedImage = ["ATTN", "DECY"] if decay_correction != "NONE" else ["ATTN"]
            ds.ImageIndex = k + 1
            ds.FrameReferenceTime = "0"
            ds.ActualFrameDuration = 1
            if decay_correction != "NONE":
                ds.DecayFactor = "1"
        else:  # each file is a one-slice NM volume placed by DetectorInformationSequence
            _set_nm_modules(ds, activity.grid, k, n_frames=1)
        set_pixels(ds, np.rint(values / slope).astype(np.int16))
        paths.append(_save(ds, folder / f"{modality}_{k:04d}.dcm"))
    return paths


def _set_radiopharmaceutical(
    ds: Dataset,
    start: dt.datetime | None,
    activity_bq: float | None,
    half_life_s: float | None,
) -> None:
    item = Dataset()
    if start is not None:
        item.RadiopharmaceuticalStartDateTime = start.strftime("%Y%m%d%H%M%S")
        item.RadiopharmaceuticalStartTime = start.strftime("%H%M%S")
    if activity_bq is not None:
        item.RadionuclideTotalDose = ds_value(activity_bq)
    if half_life_s is not None:
        item.RadionuclideHalfLife = ds_value(half_life_s)
    if len(item):
        item.RadionuclideCodeSequence = DicomSequence()
    ds.RadiopharmaceuticalInformationSequence = DicomSequence([item] if len(item) else [])


def _set_nm_modules(ds: Dataset, grid: Grid, first_slice: int, *, n_frames: int) -> None:
    """NM Multi-frame, Detector, Tomo Acquisition and Reconstruction attributes of a
    reconstructed tomographic volume of ``n_frames`` slices starting at ``first_slice``."""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.NumberOfFrames = n_frames
    ds.FrameIncrementPointer = pydicom.tag.Tag("SliceVector")
    ds.SliceVector = list(range(1, n_frames + 1))
    ds.NumberOfSlices = n_frames
    ds.NumberOfDetectors = 1
    ds.NumberOfEnergyWindows = 1
    ds.NumberOfRotations = 1
    ds.CountsAccumulated = ""
    ds.EnergyWindowInformationSequence = DicomSequence()
    ds.RotationInformationSequence = DicomSequence()
    if "RadiopharmaceuticalInformationSequence" not in ds:
        ds.RadiopharmaceuticalInformationSequence = DicomSequence()
    plane = Dataset()
    set_plane(plane, grid, first_slice)
    detector = Dataset()
    detector.ImagePositionPatient = plane.ImagePositionPatient
    detector.ImageOrientationPatient = plane.ImageOrientationPatient
    detector.CollimatorType = "PARA"
    ds.DetectorInformationSequence = DicomSequence([detector])
    ds.PixelSpacing = plane.PixelSpacing
    ds.SliceThickness = plane.SliceThickness
    ds.SpacingBetweenSlices = ds_value(grid.spacing_mm[2])


def write_nm_multiframe(
    activity: Image,
    path: str | Path,
    *,
    study: StudyInfo,
    units: str = "BQML",
    series_number: int = 3,
    series_description: str = "SPECT multi-frame",
    uid_seed: str | None = None,
    per_frame_rescale: bool = False,
) -> Path:
    """Write a SPECT volume as one multi-frame NM file (ImageType RECON TOMO).

    Position and orientation are in DetectorInformationSequence, frames advance along
    row x column by SpacingBetweenSlices. Values use one RescaleSlope, or with
    ``per_frame_rescale`` one per frame in PerFrameFunctionalGroupsSequence
    (PixelValueTransformationSequence), the layout some vendors use for quantitative
    SPECT.

    Raises
    ------
    InputError
        If values are not finite or the grid is left-handed.
    """
    require_right_handed(activity.grid)
    _check_activity(activity, "activity")
    values = activity.array.astype(np.float64)
    n_frames = values.shape[0]
    ds = new_dataset(
        sop_class_uid=NM_IMAGE_STORAGE,
        sop_instance_uid=_uid(uid_seed, "nm-multiframe"),
        modality="NM",
        study=study,
        series_instance_uid=_uid(uid_seed, "nm-multiframe-series"),
        series_number=series_number,
        series_description=series_description,
    )
    ds.InstanceNumber = 1
    ds.Units = units
    ds.BodyPartExamined = "ABDOMEN"
    ds.RadiopharmaceuticalInformationSequence = DicomSequence()
    ds.PatientOrientationCodeSequence = DicomSequence()
    ds.PatientGantryRelationshipCodeSequence = DicomSequence()
    _set_nm_modules(ds, activity.grid, 0, n_frames=n_frames)
    if per_frame_rescale:
        slopes = [_slope_for(values[k]) for k in range(n_frames)]
        groups = []
        for slope in slopes:
            transform = Dataset()
            transform.RescaleSlope = ds_value(slope)
            transform.RescaleIntercept = "0"
            transform.RescaleType = units
            group = Dataset()
            group.PixelValueTransformationSequence = DicomSequence([transform])
            groups.append(group)
        ds.PerFrameFunctionalGroupsSequence = DicomSequence(groups)
        stored = np.stack([np.rint(values[k] / s) for k, s in enumerate(slopes)])
    else:
        slope = _slope_for(values)
        ds.RescaleSlope = ds_value(slope)
        ds.RescaleIntercept = "0"
        stored = np.rint(values / slope)
    set_pixels(ds, stored.astype(np.int16))
    return _save(ds, Path(path))


def mask_to_contours_mm(mask: npt.NDArray[np.bool_], grid: Grid) -> list[npt.NDArray[np.float64]]:
    """Closed planar contours (patient mm, ``(N, 3)`` each) of a mask, slice by slice.

    Marching squares (contourpy) at level 0.5 on each zero-padded slice; the last point
    of each closed line (equal to the first) is dropped, as DICOM closes polygons
    implicitly.
    """
    if mask.shape != grid.shape_zyx:
        raise InputError("mask", f"shape {mask.shape}", f"the grid's shape {grid.shape_zyx}")
    contours: list[npt.NDArray[np.float64]] = []
    for k in np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1)).tolist():
        padded = np.pad(mask[k].astype(np.float64), 1)
        generator = contourpy.contour_generator(
            z=padded, line_type=contourpy.LineType.Separate, corner_mask=False
        )
        for line in generator.lines(0.5):
            points = np.asarray(line, dtype=np.float64)
            if len(points) > 1 and np.allclose(points[0], points[-1]):
                points = points[:-1]
            if len(points) < 3:
                continue
            ijk = np.column_stack([points[:, 0] - 1.0, points[:, 1] - 1.0, np.full(len(points), k)])
            contours.append(grid.index_to_physical_mm(ijk))
    return contours


def write_rtstruct(
    contours_mm: Mapping[str, Sequence[npt.NDArray[np.float64]]],
    reference: Image,
    path: str | Path,
    *,
    study: StudyInfo | None = None,
    series_description: str = "VOIs",
    uid_seed: str | None = None,
    interpreted_types: Mapping[str, str] | None = None,
) -> Path:
    """Write an RTSTRUCT whose ROIs are the given closed planar contours.

    Parameters
    ----------
    contours_mm
        ROI name -> list of ``(N, 3)`` polygons in patient mm (see
        :func:`mask_to_contours_mm`, or analytic contours).
    reference
        The image the structure set refers to (its frame of reference, study and slice
        SOPInstanceUIDs are referenced).
    study
        Patient and study to write; by default copied from ``reference``.
    interpreted_types
        ROI name -> RTROIInterpretedType (``"ORGAN"``, ``"GTV"``...); default ``"ORGAN"``.

    Raises
    ------
    InputError
        If an ROI has no contour or a contour has fewer than 3 points.
    """
    study = study or StudyInfo.from_image(reference)
    ds = new_dataset(
        sop_class_uid=RT_STRUCTURE_SET_STORAGE,
        sop_instance_uid=_uid(uid_seed, "rtstruct"),
        modality="RTSTRUCT",
        study=study,
        series_instance_uid=_uid(uid_seed, "rtstruct-series"),
        series_number=10,
        series_description=series_description,
    )
    del ds.ContentDate, ds.ContentTime
    ds.StructureSetLabel = series_description[:16]
    ds.StructureSetDate = ds.InstanceCreationDate
    ds.StructureSetTime = ds.InstanceCreationTime
    ds.InstanceNumber = 1
    ds.OperatorsName = ""

    contour_images = []
    for uid in reference.sop_instance_uids:
        item = Dataset()
        item.ReferencedSOPClassUID = reference.sop_class_uid or CT_IMAGE_STORAGE
        item.ReferencedSOPInstanceUID = uid
        contour_images.append(item)
    series = Dataset()
    series.SeriesInstanceUID = reference.series_instance_uid or _uid(uid_seed, "ref-series")
    series.ContourImageSequence = DicomSequence(contour_images)
    study_item = Dataset()
    study_item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Mgmt (retired)
    study_item.ReferencedSOPInstanceUID = study.study_instance_uid
    study_item.RTReferencedSeriesSequence = DicomSequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = study.frame_of_reference_uid
    frame.RTReferencedStudySequence = DicomSequence([study_item])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([frame])

    rois, roi_contours, observations = [], [], []
    for number, (name, polygons) in enumerate(contours_mm.items(), start=1):
        if not polygons:
            raise InputError(f"contours_mm[{name!r}]", "no contour", "at least one polygon")
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = study.frame_of_reference_uid
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = "AUTOMATIC"
        rois.append(roi)
        items = []
        for polygon in polygons:
            points = np.asarray(polygon, dtype=np.float64)
            if points.ndim != 2 or points.shape[1] != 3 or len(points) < 3:
                raise InputError(
                    f"contours_mm[{name!r}]", f"array of shape {points.shape}", "(N >= 3, 3) points"
                )
            contour = Dataset()
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(points)
            contour.ContourData = ds_values(points)
            items.append(contour)
        roi_contour = Dataset()
        roi_contour.ROIDisplayColor = [255, (80 * number) % 256, 0]
        roi_contour.ReferencedROINumber = number
        roi_contour.ContourSequence = DicomSequence(items)
        roi_contours.append(roi_contour)
        observation = Dataset()
        observation.ObservationNumber = number
        observation.ReferencedROINumber = number
        observation.RTROIInterpretedType = (interpreted_types or {}).get(name, "ORGAN")
        observation.ROIInterpreter = ""
        observations.append(observation)
    ds.StructureSetROISequence = DicomSequence(rois)
    ds.ROIContourSequence = DicomSequence(roi_contours)
    ds.RTROIObservationsSequence = DicomSequence(observations)
    ds.ApprovalStatus = "UNAPPROVED"
    return _save(ds, Path(path))


def write_rtstruct_from_masks(
    masks: Mapping[str, npt.NDArray[np.bool_]],
    reference: Image,
    path: str | Path,
    **options: Any,
) -> Path:
    """Write an RTSTRUCT with marching-squares contours of masks on ``reference``'s grid.

    ``options`` are passed to :func:`write_rtstruct`.
    """
    contours = {}
    for name, mask in masks.items():
        contours[name] = mask_to_contours_mm(np.asarray(mask, dtype=bool), reference.grid)
        if not contours[name]:
            raise InputError(f"masks[{name!r}]", "an empty mask", "a mask with at least one voxel")
    return write_rtstruct(contours, reference, path, **options)

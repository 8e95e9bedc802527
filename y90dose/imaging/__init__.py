"""Imaging I/O for voxel dosimetry: volumes, VOIs, resampling and DICOM export.

Modules, one concept each:

- :mod:`~y90dose.imaging.image`: :class:`Image` (values + exact geometry) and :class:`Grid`;
- :mod:`~y90dose.imaging.read`: :func:`read_image` for DICOM folders/files, NIfTI, NRRD, MHA;
- :mod:`~y90dose.imaging.dicom_series`: the DICOM volume readers behind it;
- :mod:`~y90dose.imaging.vois`: :class:`Vois` (name -> mask) and :func:`with_normal_liver`;
- :mod:`~y90dose.imaging.rtstruct`, :mod:`~y90dose.imaging.seg`,
  :mod:`~y90dose.imaging.labelmap`: VOIs from RTSTRUCT, DICOM SEG and label maps;
- :mod:`~y90dose.imaging.resample`: images (linear) and masks (nearest) onto another grid;
- :mod:`~y90dose.imaging.registration`: rigid (and B-spline) registration by mutual
  information, VOIs and images carried through the transform (import it by its name);
- :mod:`~y90dose.imaging.rtdose`: DICOM RT Dose export;
- :mod:`~y90dose.imaging.dicom_write`: CT, PT/NM and RTSTRUCT writers;
- :mod:`~y90dose.imaging.nifti`: NIfTI/NRRD/MHA writers;
- :mod:`~y90dose.imaging.synthetic`: a small deterministic CT + SPECT + RTSTRUCT study.

Array layout: ``Image.array[z, y, x]``; ``origin_mm``, ``spacing_mm`` and index triples in
(x, y, z) order; patient coordinates in DICOM LPS mm (see :mod:`~y90dose.imaging.image`).
"""

from __future__ import annotations

from y90dose.imaging.dicom_write import (
    StudyInfo,
    mask_to_contours_mm,
    write_ct_series,
    write_nm_multiframe,
    write_pt_series,
    write_rtstruct,
    write_rtstruct_from_masks,
)
from y90dose.imaging.image import Grid, Image, require_same_frame
from y90dose.imaging.labelmap import labelmap_to_vois, read_label_names, read_labelmap
from y90dose.imaging.nifti import write_dose_nifti, write_image_file, write_mask_file
from y90dose.imaging.read import read_image
from y90dose.imaging.resample import (
    resample_image,
    resample_labels,
    resample_mask,
    total_activity_bq,
)
from y90dose.imaging.rtdose import RtDose, build_rtdose, build_rtplan
from y90dose.imaging.rtstruct import rasterise_contours, read_rtstruct, roi_names
from y90dose.imaging.seg import read_seg
from y90dose.imaging.vois import (
    NORMAL_LIVER,
    EmptyVoiError,
    VoiNotFoundError,
    Vois,
    tumour_names,
    with_normal_liver,
)

__all__ = [
    "NORMAL_LIVER",
    "EmptyVoiError",
    "Grid",
    "Image",
    "RtDose",
    "StudyInfo",
    "VoiNotFoundError",
    "Vois",
    "build_rtdose",
    "build_rtplan",
    "labelmap_to_vois",
    "mask_to_contours_mm",
    "rasterise_contours",
    "read_image",
    "read_label_names",
    "read_labelmap",
    "read_rtstruct",
    "read_seg",
    "require_same_frame",
    "resample_image",
    "resample_labels",
    "resample_mask",
    "roi_names",
    "total_activity_bq",
    "tumour_names",
    "with_normal_liver",
    "write_ct_series",
    "write_dose_nifti",
    "write_image_file",
    "write_mask_file",
    "write_nm_multiframe",
    "write_pt_series",
    "write_rtstruct",
    "write_rtstruct_from_masks",
]

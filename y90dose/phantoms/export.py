"""Write a phantom to disk: DICOM (CT series, NM SPECT, PT activity, RTSTRUCT), NIfTI, JSON.

The DICOM objects are written with the y90dose imaging writers
(:mod:`y90dose.imaging.dicom_write`), so the phantoms exercise the same code paths a
clinic's data would take through the readers. Layout of ``out_dir``::

    known_answers.json
    files.json                 roles -> relative paths
    dicom/ct/CT_*.dcm          CT in HU
    dicom/nm/                  emission image: MAA-like SPECT counts (CNTS) for liver, the
                               blurred activity concentration (BQML) for nema-iec, else the
                               exact activity concentration (BQML)
    dicom/pt/                  the exact activity concentration, Bq/mL (BQML)
    dicom/rtstruct.dcm         the VOIs (marching-squares contours on the CT grid)
    nifti/*.nii.gz, nifti/labels.json
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from y90dose.errors import InputError
from y90dose.phantoms.base import GENERATOR_VERSION, Phantom, write_known_answers, write_nifti_set


def _uid_seed(phantom: Phantom) -> str:
    text = json.dumps(
        {"name": phantom.name, "v": GENERATOR_VERSION, **dict(phantom.parameters)},
        sort_keys=True,
        default=str,
    )
    return "y90dose-phantom-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def write_dicom_set(phantom: Phantom, out_dir: Path) -> dict[str, Path]:
    """Write CT, NM, PT and RTSTRUCT; return role -> path (folders for series)."""
    from y90dose.imaging.dicom_series import read_dicom
    from y90dose.imaging.dicom_write import (
        StudyInfo,
        write_ct_series,
        write_nm_multiframe,
        write_pt_series,
        write_rtstruct_from_masks,
    )
    from y90dose.imaging.image import Image

    seed = _uid_seed(phantom)
    study = StudyInfo.new(
        patient_name=f"Phantom^{phantom.name}",
        patient_id=f"Y90DOSE-{phantom.name}"[:64],
        uid_prefix=seed,
    )
    g = phantom.grid
    common: dict[str, Any] = {
        "origin_mm": g.origin_mm,
        "spacing_mm": g.spacing_mm,
        "frame_of_reference_uid": study.frame_of_reference_uid,
    }
    dicom = out_dir / "dicom"
    paths: dict[str, Path] = {}
    ct = Image(phantom.ct_hu.astype(np.float64), modality="CT", units="HU", **common)
    write_ct_series(ct, dicom / "ct", study=study, uid_seed=seed)
    paths["ct"] = dicom / "ct"
    concentration = phantom.activity_bq / g.voxel_volume_ml
    if phantom.spect_counts is not None:
        units = phantom.emission_units
        kind = "counts" if units == "CNTS" else "Bq/mL"
        nm = Image(phantom.spect_counts, modality="NM", units=units, **common)
        paths["nm"] = write_nm_multiframe(
            nm,
            dicom / "nm" / "NM_SPECT.dcm",
            study=study,
            units=units,
            series_description=f"emission image ({kind})",
            uid_seed=seed,
        )
    else:
        nm = Image(concentration, modality="NM", units="BQML", **common)
        paths["nm"] = write_nm_multiframe(
            nm,
            dicom / "nm" / "NM_ACTIVITY.dcm",
            study=study,
            units="BQML",
            series_description="exact activity (Bq/mL)",
            uid_seed=seed,
        )
    pt = Image(concentration, modality="PT", units="BQML", **common)
    write_pt_series(
        pt,
        dicom / "pt",
        study=study,
        modality="PT",
        units="BQML",
        series_description="exact activity (Bq/mL)",
        uid_seed=seed,
        decay_correction="NONE",
    )
    paths["pt"] = dicom / "pt"
    reference = read_dicom(dicom / "ct")
    nonempty = {name: mask for name, mask in phantom.vois.items() if mask.any()}
    paths["rtstruct"] = write_rtstruct_from_masks(
        nonempty, reference, dicom / "rtstruct.dcm", uid_seed=seed
    )
    return paths


def export_phantom(
    phantom: Phantom, out_dir: Path, *, dicom: bool = True, nifti: bool = True
) -> dict[str, Path]:
    """Write everything for ``phantom`` into ``out_dir``; return role -> path.

    Raises
    ------
    InputError
        If ``out_dir`` exists and is not a directory.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("out", str(out_dir), "a directory (or a path that does not exist)")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"known_answers": write_known_answers(phantom, out_dir)}
    if nifti:
        paths.update({f"nifti_{k}": v for k, v in write_nifti_set(phantom, out_dir).items()})
    if dicom:
        paths.update({f"dicom_{k}": v for k, v in write_dicom_set(phantom, out_dir).items()})
    (out_dir / "files.json").write_text(
        json.dumps({k: str(v.relative_to(out_dir)) for k, v in paths.items()}, indent=1) + "\n"
    )
    return paths

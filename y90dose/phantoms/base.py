"""The in-memory phantom and its NIfTI / JSON export.

A :class:`Phantom` holds arrays indexed ``[z, y, x]`` on one :class:`VoxelGrid`: CT
numbers (HU), mass density (g/mL), the exact activity map (Bq per voxel at the reference
time), an optional emission image (SPECT counts), volumes of interest (boolean masks, may
overlap, e.g. a tumour inside the liver) and the known answers (a JSON-able dict). DICOM
export lives in :mod:`y90dose.phantoms.export` (it uses the y90dose imaging writers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from y90dose.phantoms.geometry import VoxelGrid

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

GENERATOR_VERSION = "1"
"""Bumped whenever a generator changes what it writes (cache invalidation)."""


@dataclass(frozen=True)
class Phantom:
    """A digital phantom with its known answers.

    Attributes
    ----------
    name
        Generator name (``"liver"``).
    grid
        The voxel grid of every array.
    ct_hu
        CT numbers, HU.
    density_g_ml
        Mass density, g/mL (the analytic one, not a HU calibration).
    activity_bq
        Exact activity per voxel, Bq (partial-volume weighted).
    vois
        Volume-of-interest masks (voxel centre inside the analytic shape), name -> mask.
    known_answers
        The answers a correct pipeline must reproduce, each with how it was derived.
    spect_counts
        Emission image (blurred, optionally noisy counts per voxel), or None.
    spect_truth_counts
        The noise-free blurred emission image, or None.
    parameters
        The generator's parameters (seed included) for the provenance.
    """

    name: str
    grid: VoxelGrid
    ct_hu: FloatArray
    density_g_ml: FloatArray
    activity_bq: FloatArray
    vois: Mapping[str, BoolArray]
    known_answers: Mapping[str, Any]
    spect_counts: FloatArray | None = None
    spect_truth_counts: FloatArray | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    emission_units: str = "CNTS"
    """Units of ``spect_counts``: ``"CNTS"`` (relative counts) or ``"BQML"`` (Bq/mL)."""

    def label_map(self) -> tuple[npt.NDArray[np.int16], dict[int, str]]:
        """Exclusive labels (later VOIs win where they overlap) and their names."""
        labels = np.zeros(self.grid.shape_zyx, dtype=np.int16)
        names: dict[int, str] = {}
        for value, (name, mask) in enumerate(self.vois.items(), start=1):
            labels[mask] = value
            names[value] = name
        return labels, names


def _write_nifti(array: npt.NDArray[Any], grid: VoxelGrid, path: Path) -> None:
    import SimpleITK as sitk  # noqa: N813

    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(grid.spacing_mm)
    image.SetOrigin(grid.origin_mm)
    # NIfTI stores RAS; SimpleITK converts from its LPS direction when writing.
    sitk.WriteImage(image, str(path), useCompression=True)


def voi_truth(phantom: Phantom, energy_j_per_gbq: float) -> dict[str, dict[str, float]]:
    """Per VOI, from the exact activity map and the analytic densities: what a voxel
    pipeline that reads the exact activity must find.

    ``volume_ml`` = voxels x voxel volume; ``activity_gbq`` = sum of the exact map;
    ``mean_ldm_dose_gy`` = mean over the VOI's voxels of C x A_voxel / (rho_voxel x V).
    ``normal_liver`` (liver minus tumours) is added when both exist.
    The VOI is the set of voxels whose centre lies inside the analytic shape, so these
    differ from the analytic compartment values by the voxelisation only.
    """
    v_ml = phantom.grid.voxel_volume_ml
    dose = energy_j_per_gbq * (phantom.activity_bq / 1e9) / (phantom.density_g_ml * v_ml / 1000.0)
    out: dict[str, dict[str, float]] = {}
    vois = dict(phantom.vois)
    tumours = [n for n in vois if n.startswith("tumor")]
    if "liver" in vois and tumours:
        normal = vois["liver"].copy()
        for n in tumours:
            normal &= ~vois[n]
        vois["normal_liver"] = normal
    for name, mask in vois.items():
        if not mask.any():
            continue
        out[name] = {
            "volume_ml": float(mask.sum() * v_ml),
            "mass_kg": float((phantom.density_g_ml[mask] * v_ml).sum() / 1000.0),
            "activity_gbq": float(phantom.activity_bq[mask].sum() / 1e9),
            "mean_ldm_dose_gy": float(dose[mask].mean()),
        }
    return out


def document(phantom: Phantom) -> dict[str, Any]:
    """The JSON document of ``known_answers.json``."""
    energy = phantom.known_answers.get("energy_j_per_gbq", {})
    c = float(energy["value"]) if isinstance(energy, dict) and "value" in energy else None
    doc: dict[str, Any] = {
        "phantom": phantom.name,
        "generator_version": GENERATOR_VERSION,
        "parameters": dict(phantom.parameters),
        "grid": {
            "shape_zyx": list(phantom.grid.shape_zyx),
            "spacing_mm": list(phantom.grid.spacing_mm),
            "origin_mm": list(phantom.grid.origin_mm),
            "direction": "identity (DICOM LPS)",
        },
        "known_answers": phantom.known_answers,
    }
    if c is not None:
        doc["voi_truth"] = {
            "energy_j_per_gbq": c,
            "derivation": voi_truth.__doc__.split("\n\n")[1].strip() if voi_truth.__doc__ else "",
            "value": voi_truth(phantom, c),
        }
    return json.loads(json.dumps(doc, default=float))


def write_known_answers(phantom: Phantom, out_dir: Path) -> Path:
    """Write ``known_answers.json`` (answers + grid + parameters + per-VOI truth)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "known_answers.json"
    path.write_text(json.dumps(document(phantom), indent=1) + "\n")
    return path


def write_nifti_set(phantom: Phantom, out_dir: Path) -> dict[str, Path]:
    """Write CT, density, exact activity, SPECT, label map (+ names JSON) as NIfTI.

    Returns
    -------
    dict
        Role -> path.
    """
    nifti = out_dir / "nifti"
    nifti.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    paths["ct"] = nifti / "ct_hu.nii.gz"
    _write_nifti(phantom.ct_hu.astype(np.int16), phantom.grid, paths["ct"])
    paths["density"] = nifti / "density_g_ml.nii.gz"
    _write_nifti(phantom.density_g_ml.astype(np.float32), phantom.grid, paths["density"])
    paths["activity"] = nifti / "activity_bq.nii.gz"
    _write_nifti(phantom.activity_bq.astype(np.float64), phantom.grid, paths["activity"])
    if phantom.spect_counts is not None:
        paths["spect"] = nifti / "spect_counts.nii.gz"
        _write_nifti(phantom.spect_counts.astype(np.float32), phantom.grid, paths["spect"])
    labels, names = phantom.label_map()
    paths["labels"] = nifti / "labels.nii.gz"
    _write_nifti(labels, phantom.grid, paths["labels"])
    paths["label_names"] = nifti / "labels.json"
    paths["label_names"].write_text(
        json.dumps(
            {
                "labels": {str(k): v for k, v in names.items()},
                "note": "exclusive labels; where VOIs overlap the later one wins "
                "(tumours over liver). The RTSTRUCT keeps the overlapping VOIs.",
            },
            indent=1,
        )
        + "\n"
    )
    return paths

"""The volumes the dose review page draws: one compact copy per finished job, on disk.

The viewer (``static/viewer.js``) draws the dose over the CT (or, without a CT, over the
emission image) in three orthogonal views. It reads three raw little-endian volumes of
one grid and a JSON description (:func:`build_view`), written once per job under
``<data_dir>/views/<job id>/`` from the job's own output files and the study's images:

- the grid: the CT's when the run had a CT (the run's ``dose_on_ct_gy.nii.gz``), else
  the dose grid (``dose_gy.nii.gz``, with the emission image as the background);
  axes turned to the nearest of LPS (``sitk.DICOMOrient``: a permutation and flips of
  the voxels, no resampling), so that the views are axial, coronal and sagittal;
- shrunk by whole factors (``sitk.BinShrink``: the mean of each block) until it holds at
  most :data:`VIEW_MAX_VOXELS`, so that what a browser loads is bounded whatever the
  study (the page says when it is shrunk, and the readout is then a block mean);
- ``dose.f32`` (Gy), ``background.i16`` (CT, HU) or ``background.f32`` (emission
  image), ``vois.u8|u16|u32`` (bit ``n`` set where VOI ``n`` of ``vois.json`` is: the
  run's VOI masks, on the dose grid, taken to this grid by nearest neighbour);
- ``air`` (uint8, CT views of runs with CT densities): 1 where the run's slice figures
  draw no dose (:func:`y90dose.pipeline.outputs.display_dose_gy`, density below
  0.05 g/mL); the dose values there are kept and read out;
- each file gzip-compressed once, served as it is with ``Content-Encoding: gzip``.

No dose is computed here: the values are the run's, only moved to the display grid.
A request never reads a volume into memory: it is served from the file. Building the
view reads the CT and the dose map once (one build at a time in the process, so their
memory is held once), bounded by the service's voxel limits like the job itself.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

VIEW_MAX_VOXELS = 8_000_000
"""Most voxels a review page loads (8 M: about 32 MB of dose, 16 MB of CT, 8-32 MB of
VOI bits before compression); a larger grid is shrunk by whole factors."""
MAX_VIEW_VOIS = 32
"""VOIs drawn at most (one bit each in a 32-bit word); the page names any left out."""
VIEW_FORMAT = 1
"""Bumped when the files change, so that views built by an older version are rebuilt."""
VIEW_JSON = "view.json"
PARTS = {"dose", "background", "vois", "air"}
"""The volumes a view serves (``/dose-jobs/{id}/view/{part}``)."""

DEFAULT_LOWER_FRACTION = 0.02
"""The dose wash starts at 2 % of its upper end by default (the upper end: the highest
D2 of the run's VOIs, a near-maximum that one hot voxel does not set); both ends are
the user's to change on the page."""

_BUILD = threading.Lock()
"""One view is built at a time in this process: the memory of one CT and dose map."""


def view_dir(data_dir: Path, job_id: str) -> Path:
    """Where a job's view files are kept."""
    return data_dir / "views" / job_id


def shrink_factors(
    shape_xyz: tuple[int, int, int],
    spacing_mm: tuple[float, float, float],
    max_voxels: int = VIEW_MAX_VOXELS,
) -> tuple[int, int, int]:
    """Whole factors per axis (x, y, z) that bring the grid to at most ``max_voxels``.

    The axis with the finest (shrunk) spacing grows first, so voxels become less
    anisotropic rather than more.

    Examples
    --------
    >>> shrink_factors((512, 512, 200), (0.8, 0.8, 2.0), 8_000_000)
    (2, 2, 1)
    >>> shrink_factors((90, 64, 74), (4.0, 4.0, 4.0))
    (1, 1, 1)
    """
    factors = [1, 1, 1]

    def count() -> int:
        return math.prod(max(n // f, 1) for n, f in zip(shape_xyz, factors, strict=True))

    while count() > max_voxels:
        axis = min(
            (a for a in range(3) if shape_xyz[a] // factors[a] > 1),
            key=lambda a: (spacing_mm[a] * factors[a], a),
        )
        factors[axis] += 1
    return factors[0], factors[1], factors[2]


def _oriented(image: Any) -> Any:
    import SimpleITK as sitk  # noqa: N813

    return sitk.DICOMOrient(image, "LPS")


def _write_gz(path: Path, array: npt.NDArray[Any]) -> int:
    data = np.ascontiguousarray(array).tobytes()
    with gzip.open(path, "wb", compresslevel=6) as handle:
        handle.write(data)
    return len(data)


def _bits_dtype(count: int) -> tuple[str, Any]:
    if count <= 8:
        return "uint8", np.dtype("<u1")
    if count <= 16:
        return "uint16", np.dtype("<u2")
    return "uint32", np.dtype("<u4")


def build_view(
    output_dir: Path,
    study_folder: Path,
    target: Path,
    *,
    image_units: str | None = None,
    max_voxels: int = VIEW_MAX_VOXELS,
) -> dict[str, Any]:
    """Write the view files of a finished run into ``target`` (made atomically); its
    description (``view.json``).

    Call within the service's voxel limits (:func:`y90dose.limits.voxel_limit`).

    Raises
    ------
    ImageError, InputError
        The run's files or the study's images are missing or unreadable.
    """
    import SimpleITK as sitk  # noqa: N813

    from y90dose.constants import AIR_DISPLAY_DENSITY_G_ML
    from y90dose.errors import ImageError
    from y90dose.imaging.image import Grid, Image
    from y90dose.imaging.read import read_sitk_file
    from y90dose.imaging.resample import resample_image, resample_mask
    from y90dose.pipeline import find_study_inputs
    from y90dose.pipeline.inputs import read_ct, read_emission_image
    from y90dose.pipeline.outputs import (
        DOSE_NIFTI,
        DOSE_ON_CT_NIFTI,
        METRICS_JSON,
        VOI_INDEX,
        display_dose_gy,
    )
    from y90dose.voxel.density import hu_to_density

    summary = json.loads((output_dir / METRICS_JSON).read_text(encoding="utf-8"))
    files: dict[str, str] = summary.get("files", {})
    found = find_study_inputs(study_folder)
    if "dose_on_ct_nifti" in files and found.ct is not None:
        dose = read_sitk_file(output_dir / files.get("dose_on_ct_nifti", DOSE_ON_CT_NIFTI))
        background = read_ct(found.ct)
        kind, unit = "ct", "HU"
        grid_text = "the CT's grid (the run's dose resampled onto the CT)"
    else:
        dose = read_sitk_file(output_dir / files.get("dose_nifti", DOSE_NIFTI))
        background = read_emission_image(found.spect, image_units=image_units)
        kind = "emission"
        unit = "Bq/mL" if (background.units or "").upper() == "BQML" else "counts"
        grid_text = "the dose grid (the emission image's)"
    if not background.same_geometry(dose.grid):
        background = resample_image(background, dose, outside_value=float(background.array.min()))
    source_shape_xyz = tuple(int(n) for n in dose.shape_zyx[::-1])
    source_spacing = dose.spacing_mm

    dose_sitk = _oriented(dose.with_array(dose.array.astype(np.float32)).to_sitk())
    background_sitk = _oriented(
        background.with_array(background.array.astype(np.float32)).to_sitk()
    )
    spacing = dose_sitk.GetSpacing()
    oriented_spacing = (float(spacing[0]), float(spacing[1]), float(spacing[2]))
    size = dose_sitk.GetSize()
    factors = shrink_factors((size[0], size[1], size[2]), oriented_spacing, max_voxels)
    if factors != (1, 1, 1):
        dose_sitk = sitk.BinShrink(dose_sitk, list(factors))
        background_sitk = sitk.BinShrink(background_sitk, list(factors))
    dose_zyx = sitk.GetArrayFromImage(dose_sitk).astype("<f4")
    background_zyx = sitk.GetArrayFromImage(background_sitk)
    origin, spacing = dose_sitk.GetOrigin(), dose_sitk.GetSpacing()
    grid = Grid(
        dose_zyx.shape,
        (float(origin[0]), float(origin[1]), float(origin[2])),
        (float(spacing[0]), float(spacing[1]), float(spacing[2])),
        np.asarray(dose_sitk.GetDirection(), dtype=np.float64).reshape(3, 3),
        None,
    )

    index = json.loads((output_dir / files.get("vois_index", VOI_INDEX)).read_text("utf-8"))
    names = list(index["vois"])
    shown = names[:MAX_VIEW_VOIS]
    bits_name, bits_dtype = _bits_dtype(len(shown))
    bits = np.zeros(dose_zyx.shape, dtype=bits_dtype)
    for bit, name in enumerate(shown):
        mask_image: Image = read_sitk_file(output_dir / index["vois"][name])
        mask = resample_mask(mask_image.array > 0.5, mask_image.grid, grid)
        bits[mask] |= bits_dtype.type(1 << bit)

    if kind == "ct":
        background_out = np.clip(np.rint(background_zyx), -32768, 32767).astype("<i2")
        background_dtype = "int16"
        window = [400.0, 40.0]  # abdomen soft-tissue window (width, level), HU
    else:
        background_out = background_zyx.astype("<f4")
        background_dtype = "float32"
        top = float(np.percentile(background_out, 99.5)) or 1.0
        window = [top, top / 2.0]
    finite = dose_zyx[np.isfinite(dose_zyx)]
    if not finite.size:
        raise ImageError("the dose map holds no finite value")
    near_max = [
        float(m["d2_gy"]) for m in summary.get("metrics", {}).values() if m.get("d2_gy") is not None
    ]
    upper = max(near_max) if near_max else float(finite.max())
    upper = upper if upper > 0 else 1.0
    description: dict[str, Any] = {
        "format": VIEW_FORMAT,
        "grid": grid_text,
        "shape_xyz": [int(n) for n in dose_zyx.shape[::-1]],
        "spacing_mm": list(grid.spacing_mm),
        "origin_mm": list(grid.origin_mm),
        "direction": grid.direction.ravel().tolist(),
        "shrink_factors_xyz": list(factors),
        "source_shape_xyz": list(source_shape_xyz),
        "source_spacing_mm": list(source_spacing),
        "dose": {
            "dtype": "float32",
            "unit": "Gy",
            "max_gy": float(finite.max()),
            "range_gy": [round(DEFAULT_LOWER_FRACTION * upper, 1), round(upper, 1)],
        },
        "background": {
            "dtype": background_dtype,
            "kind": kind,
            "unit": unit,
            "window": window,
            "min": float(background_out.min()),
            "max": float(background_out.max()),
        },
        "vois": {"dtype": bits_name, "names": shown, "left_out": names[MAX_VIEW_VOIS:]},
        "v_thresholds_gy": summary.get("inputs", {}).get("v_thresholds_gy", []),
    }
    parts = {"dose": dose_zyx, "background": background_out, "vois": bits}
    if kind == "ct" and summary.get("density", {}).get("source") == "CT":
        # as the run's slice figures: no dose drawn where the CT says air (the values stay)
        density = hu_to_density(background_zyx).density_g_ml
        shown_dose, air_voxels = display_dose_gy(dose_zyx, density)
        parts["air"] = ((shown_dose == 0) & (dose_zyx > 0)).astype(np.uint8)
        description["dose"]["air"] = {
            "voxels": air_voxels,
            "density_below_g_ml": AIR_DISPLAY_DENSITY_G_ML.value,
        }
    return _commit(target, description, parts)


def _commit(
    target: Path, description: dict[str, Any], parts: dict[str, npt.NDArray[Any]]
) -> dict[str, Any]:
    """Write the files in a new folder beside ``target``, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for name, array in parts.items():
            _write_gz(staging / f"{name}.gz", array)
        (staging / VIEW_JSON).write_text(json.dumps(description), encoding="utf-8")
        if target.exists():  # an older format's files
            shutil.rmtree(target)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return description


def load_view(target: Path) -> dict[str, Any] | None:
    """The description of a view built in this format, else None."""
    try:
        description: dict[str, Any] = json.loads((target / VIEW_JSON).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return description if description.get("format") == VIEW_FORMAT else None


def ensure_view(
    output_dir: Path, study_folder: Path, target: Path, *, image_units: str | None = None
) -> dict[str, Any]:
    """The view's description, built first if missing (one build at a time)."""
    found = load_view(target)
    if found is not None:
        return found
    with _BUILD:
        found = load_view(target)  # built while this waited
        if found is not None:
            return found
        return build_view(output_dir, study_folder, target, image_units=image_units)

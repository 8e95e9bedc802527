"""An RT Structure Set of a voxel-dosimetry run: the VOIs it used, the derived ones, and
isodose structures.

From a run's output folder (:mod:`y90dose.pipeline.outputs`):

- every VOI of ``vois.json``: those read from the study (liver, tumours, lungs...) and the
  ones the run derived, ``normal_liver`` (the whole liver minus every tumour) and
  ``tumors`` (their union), as the masks the metrics were computed on (dose grid);
- ``isodose <level> Gy`` for each level asked: the voxels of ``dose_on_reference`` (the
  RT Dose being sent with the structure set) at or above the level.

The masks are put on the reference image's grid by nearest neighbour (each reference
voxel takes the dose-grid voxel its centre falls in) and contoured by marching squares
(:func:`y90dose.imaging.dicom_write.write_rtstruct_from_masks`), so rasterising the
contours on the reference grid gives the masks back. The structure set references the
image (usually the CT) the RT Dose references: same study, frame of reference and patient.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from y90dose.errors import ImageError, InputError
from y90dose.imaging.image import Image
from y90dose.imaging.vois import TUMOURS_UNION
from y90dose.pipeline.outputs import METRICS_JSON, VOI_INDEX

ISODOSE_LEVELS_MAX = 20
"""Most isodose structures in one structure set."""


def isodose_name(level_gy: float) -> str:
    """The ROI name of an isodose structure.

    Examples
    --------
    >>> isodose_name(120.0)
    'isodose 120 Gy'
    """
    return f"isodose {level_gy:g} Gy"


def check_isodose_levels(levels_gy: Sequence[float]) -> list[float]:
    """The levels as floats: finite, > 0 Gy, distinct, at most ``ISODOSE_LEVELS_MAX``.

    Raises
    ------
    InputError
        (``isodose_levels_gy``) naming the first bad level.
    """
    levels = [float(v) for v in levels_gy]
    if len(levels) > ISODOSE_LEVELS_MAX:
        raise InputError("isodose_levels_gy", levels, f"at most {ISODOSE_LEVELS_MAX} levels")
    for index, level in enumerate(levels):
        if not math.isfinite(level) or level <= 0:
            raise InputError(f"isodose_levels_gy[{index}]", level, "a dose > 0 Gy")
        if isodose_name(level) in {isodose_name(v) for v in levels[:index]}:
            raise InputError(f"isodose_levels_gy[{index}]", level, "each level once")
    return levels


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot read {path.name} of the dose run: {exc}") from None


def run_masks(
    run_dir: Path,
    reference: Image,
    *,
    dose_on_reference: Image | None = None,
    isodose_levels_gy: Sequence[float] = (),
) -> tuple[dict[str, npt.NDArray[np.bool_]], dict[str, str]]:
    """The masks of the structure set on ``reference``'s grid, and their RT ROI
    Interpreted Types (tumours ``GTV``, isodoses ``DOSE_REGION``, others ``ORGAN``).

    Raises
    ------
    InputError
        (``isodose_levels_gy``) a level no voxel of the dose reaches, or a bad level;
        isodose levels without ``dose_on_reference``.
    ImageError
        The run folder lacks its VOI index or masks.
    """
    from y90dose.imaging.read import read_sitk_file
    from y90dose.imaging.resample import resample_mask

    levels = check_isodose_levels(isodose_levels_gy)
    index = _read_json(run_dir / VOI_INDEX)
    inputs = (_read_json(run_dir / METRICS_JSON) or {}).get("inputs") or {}
    tumours = set(inputs.get("tumor_rois") or []) | {TUMOURS_UNION}
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    types: dict[str, str] = {}
    for name, relative in (index.get("vois") or {}).items():
        path = (run_dir / str(relative)).resolve()
        if not path.is_relative_to(run_dir.resolve()):
            raise ImageError(f"{VOI_INDEX} names {relative!r}, outside the run folder")
        image = read_sitk_file(path)
        masks[name] = resample_mask(image.array > 0.5, image.grid, reference)
        types[name] = "GTV" if name in tumours else "ORGAN"
    if levels and dose_on_reference is None:
        raise InputError("isodose_levels_gy", levels, "no levels (no dose to contour)")
    if dose_on_reference is not None and levels:
        if not dose_on_reference.grid.same_geometry(reference.grid):
            raise InputError(
                "dose_on_reference", "another grid", "the dose on the reference image's grid"
            )
        dose = np.asarray(dose_on_reference.array, dtype=np.float64)
        peak = float(dose.max()) if dose.size else 0.0
        for i, level in enumerate(levels):
            mask = dose >= level
            if not mask.any():
                raise InputError(
                    f"isodose_levels_gy[{i}]",
                    level,
                    f"a level the dose reaches (its maximum is {peak:.4g} Gy)",
                )
            masks[isodose_name(level)] = mask
            types[isodose_name(level)] = "DOSE_REGION"
    empty = [name for name, mask in masks.items() if not mask.any()]
    if empty:
        raise ImageError(
            f"VOI(s) {', '.join(empty)} have no voxel on the reference image's grid "
            "(smaller than its voxels?): a structure set cannot hold an empty ROI"
        )
    return masks, types


def write_run_structure_set(
    run_dir: Path,
    reference: Image,
    path: Path,
    *,
    dose_on_reference: Image | None = None,
    isodose_levels_gy: Sequence[float] = (),
    series_description: str = "y90dose VOIs",
    uid_seed: str | None = None,
) -> Path:
    """Write the RT Structure Set of a run (module docstring) to ``path``.

    Parameters
    ----------
    run_dir
        The run's output folder (``vois.json``, ``vois/``, ``metrics.json``).
    reference
        The DICOM image the structure set references (the RT Dose's reference: the CT,
        else the emission image), with its SOP Instance UIDs.
    dose_on_reference
        The dose (Gy) on ``reference``'s grid, for isodose structures.
    isodose_levels_gy
        Levels of the isodose structures.
    uid_seed
        Makes the structure set's UIDs deterministic (the same send, retried, sends the
        same instance); random when ``None``.

    Raises
    ------
    InputError, ImageError
        As :func:`run_masks`; a reference without study or frame of reference UID.

    Examples
    --------
    >>> write_run_structure_set(run, ct, Path("RS.dcm"), dose_on_reference=dose_on_ct,
    ...                         isodose_levels_gy=[120])  # doctest: +SKIP
    """
    from y90dose.imaging.dicom_write import write_rtstruct_from_masks

    masks, types = run_masks(
        run_dir,
        reference,
        dose_on_reference=dose_on_reference,
        isodose_levels_gy=isodose_levels_gy,
    )
    return write_rtstruct_from_masks(
        masks,
        reference,
        path,
        series_description=series_description,
        interpreted_types=types,
        uid_seed=uid_seed,
    )

"""Label maps: an integer image whose values name VOIs, with names from a dict or JSON.

A sidecar JSON maps label values to names, ``{"1": "liver", "2": "tumor1"}`` (or
``{"labels": {...}}``); by
default it is looked for beside the image as ``<name>.json`` (``mask.nii.gz`` ->
``mask.json``). Labels are resampled onto the target grid by nearest neighbour, so
each target voxel takes the label of the closest source voxel centre.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from y90dose.errors import ImageError, InputError
from y90dose.imaging.image import Grid, Image, require_same_frame
from y90dose.imaging.read import read_image
from y90dose.imaging.resample import resample_labels
from y90dose.imaging.vois import EmptyVoiError, Vois


def sidecar_path(path: Path) -> Path:
    """``<image name without .nii/.nii.gz/.nrrd/.mha/...>.json`` beside the image."""
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".json")


def read_label_names(source: Mapping[Any, str] | str | Path) -> dict[int, str]:
    """Label value -> name from a mapping or a JSON file ``{"1": "liver", ...}``.

    The JSON may also wrap the mapping as ``{"labels": {"1": "liver", ...}, ...}`` (other
    keys, e.g. a note, are then ignored), the form :mod:`phantoms` writes.

    Raises
    ------
    InputError
        If a key is not a positive integer, a name is empty or repeated, or the JSON
        cannot be read (the file is named).
    """
    where = "label names"
    if isinstance(source, (str, Path)):
        where = str(source)
        try:
            raw = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(where, str(error), 'a JSON object {"1": "liver", ...}') from error
        if isinstance(raw, dict) and isinstance(raw.get("labels"), dict):
            raw = raw["labels"]  # {"labels": {...}, "note": ...}, as the phantoms write
        if not isinstance(raw, dict):
            raise InputError(where, type(raw).__name__, 'a JSON object {"1": "liver", ...}')
        source = raw
    names: dict[int, str] = {}
    for key, name in source.items():
        try:
            label = int(key)
        except (TypeError, ValueError):
            label = -1
        if label < 1 or str(label) != str(key).strip():
            raise InputError(
                f"{where} key", key, "a positive integer label value (0 is background)"
            )
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{where}[{key!r}]", name, "a non-empty VOI name")
        names[label] = name.strip()
    if len(set(names.values())) != len(names):
        raise InputError(where, sorted(names.values()), "distinct names")
    return names


def labelmap_to_vois(
    labels: Image,
    target: Image | Grid,
    names: Mapping[int, str],
    *,
    ignore_unnamed: bool = False,
) -> Vois:
    """Split an integer label image into named masks on ``target``'s grid.

    Raises
    ------
    ImageError
        If values are not integers, or (unless ``ignore_unnamed``) a label has no name.
    EmptyVoiError
        If a named label has no voxel on the target grid.
    GeometryError
        If both frames of reference are known and differ.
    """
    grid = target.grid if isinstance(target, Image) else target
    require_same_frame(
        labels.frame_of_reference_uid,
        grid.frame_of_reference_uid,
        what_a="the label map",
        what_b="the target image",
    )
    values = labels.array
    if not np.array_equal(values, np.rint(values)):
        raise ImageError("the label map has non-integer values; expected integer labels")
    present = {int(v) for v in np.unique(values)} - {0}
    unnamed = sorted(present - set(names))
    if unnamed and not ignore_unnamed:
        raise ImageError(
            f"label values {unnamed} have no name (named: {dict(sorted(names.items()))}); "
            "add them to the names or pass ignore_unnamed=True"
        )
    on_target = resample_labels(values.astype(np.int32), labels.grid, grid)
    masks = {}
    for label, name in names.items():
        mask = on_target == label
        if not mask.any():
            where = "in the label map" if label not in present else "on the target grid"
            raise EmptyVoiError(f"VOI {name!r} (label {label}) has no voxel {where}")
        masks[name] = mask
    return Vois(grid, masks)


def read_labelmap(
    path: str | Path,
    target: Image | Grid,
    *,
    names: Mapping[Any, str] | str | Path | None = None,
    ignore_unnamed: bool = False,
) -> Vois:
    """Read a label map (NIfTI, NRRD, MHA or DICOM) and return its VOIs on ``target``.

    Parameters
    ----------
    path
        The integer label image.
    target
        Image or grid to resample onto (nearest neighbour).
    names
        Label -> name mapping, or a JSON file; default: the sidecar
        :func:`sidecar_path` beside the image.
    ignore_unnamed
        Drop labels without a name instead of refusing.

    Raises
    ------
    InputError
        If no names are given and no sidecar exists, or the names are malformed.

    Examples
    --------
    >>> vois = read_labelmap("seg.nii.gz", ct)  # reads seg.json  # doctest: +SKIP
    """
    path = Path(path)
    if names is None:
        sidecar = sidecar_path(path)
        if not sidecar.exists():
            raise InputError("names", None, f"a label->name mapping or the sidecar {sidecar}")
        names = sidecar
    return labelmap_to_vois(
        read_image(path), target, read_label_names(names), ignore_unnamed=ignore_unnamed
    )

"""Volumes of interest: named boolean masks that share one voxel grid.

Derived VOIs follow the usual dosimetry definitions (EANM2022, MPPG14a): the *normal
liver* is the liver minus every tumour, ``normal_liver = liver AND NOT union(tumours)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from y90dose.errors import ImageError, InputError
from y90dose.imaging.image import Grid, Image

BoolArray = npt.NDArray[np.bool_]

#: Name of the derived normal-liver VOI.
NORMAL_LIVER = "normal_liver"
#: Name of the derived union of tumours.
TUMOURS_UNION = "tumors"

_TUMOUR_NAME = re.compile(r"(tumou?r|lesion|gtv|hcc|met)", re.IGNORECASE)


class VoiNotFoundError(ImageError, KeyError):
    """A VOI was asked for by a name that the set does not hold."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class EmptyVoiError(ImageError):
    """A VOI has no voxel on the grid (empty, or entirely outside the image)."""


@dataclass(frozen=True, eq=False)
class Vois(Mapping[str, BoolArray]):
    """Named boolean masks on one grid; behaves as a read-only ``dict`` name -> mask.

    Parameters
    ----------
    grid
        The voxel grid of every mask.
    masks
        Name -> boolean array of shape ``grid.shape_zyx``. Every mask must be non-empty.

    Raises
    ------
    InputError
        If a mask has the wrong shape.
    EmptyVoiError
        If a mask has no voxel.

    Examples
    --------
    >>> import numpy as np
    >>> g = Grid((1, 2, 2), (0, 0, 0), (10, 10, 10))
    >>> v = Vois(g, {"liver": np.ones((1, 2, 2), bool)})
    >>> v.volume_ml("liver")
    4.0
    """

    grid: Grid
    masks: Mapping[str, BoolArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checked: dict[str, BoolArray] = {}
        for name, mask in self.masks.items():
            array = np.asarray(mask)
            if array.shape != self.grid.shape_zyx:
                raise InputError(
                    f"mask {name!r}",
                    f"shape {array.shape}",
                    f"the grid's shape {self.grid.shape_zyx}",
                )
            array = array.astype(bool, copy=True)
            if not array.any():
                raise EmptyVoiError(f"VOI {name!r} has no voxel on the image grid")
            array.setflags(write=False)
            checked[str(name)] = array
        object.__setattr__(self, "masks", checked)

    def __getitem__(self, name: str) -> BoolArray:
        try:
            return self.masks[name]
        except KeyError:
            raise VoiNotFoundError(
                f"no VOI named {name!r}; available: {sorted(self.masks)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.masks)

    def __len__(self) -> int:
        return len(self.masks)

    def volume_ml(self, name: str) -> float:
        """Volume of VOI ``name`` in mL (voxel count x voxel volume)."""
        return float(np.count_nonzero(self[name])) * self.grid.voxel_volume_ml

    def volumes_ml(self) -> dict[str, float]:
        """Volume of every VOI in mL."""
        return {name: self.volume_ml(name) for name in self}

    def _sharing(self, masks: Mapping[str, BoolArray]) -> Vois:
        """A new set of this set's (read-only, checked) masks, shared rather than copied."""
        vois = object.__new__(Vois)
        object.__setattr__(vois, "grid", self.grid)
        object.__setattr__(vois, "masks", dict(masks))
        return vois

    def with_masks(self, masks: Mapping[str, BoolArray]) -> Vois:
        """A new set with ``masks`` added (replacing same-named ones).

        The masks already in this set are shared with the new one (they are read-only);
        the added ones are checked and copied.
        """
        added = Vois(self.grid, masks).masks
        return self._sharing({**self.masks, **added})

    def select(self, names: Iterable[str]) -> Vois:
        """A new set holding only ``names`` (each must exist)."""
        return self._sharing({name: self[name] for name in names})

    def renamed(self, mapping: Mapping[str, str]) -> Vois:
        """A new set with VOIs renamed by ``mapping`` (old -> new); others keep their names."""
        missing = [old for old in mapping if old not in self.masks]
        if missing:
            raise VoiNotFoundError(f"cannot rename {missing}: available {sorted(self.masks)}")
        return self._sharing({mapping.get(n, n): m for n, m in self.masks.items()})

    def union(self, names: Sequence[str]) -> BoolArray:
        """Voxel-wise OR of the named VOIs."""
        if not names:
            raise InputError("names", list(names), "at least one VOI name")
        result = np.zeros(self.grid.shape_zyx, dtype=bool)
        for name in names:
            result |= self[name]
        return result

    def check_on(self, image: Image | Grid) -> None:
        """Raise :class:`GeometryError` unless these VOIs lie on ``image``'s grid."""
        other = image.grid if isinstance(image, Image) else image
        self.grid.require_same_geometry(other, what="the VOIs and the image")


def tumour_names(names: Iterable[str]) -> list[str]:
    """Names that look like tumours (``tumor``, ``tumour``, ``lesion``, ``GTV``, ``HCC``...)."""
    return [n for n in names if _TUMOUR_NAME.search(n) and n != TUMOURS_UNION]


def with_normal_liver(
    vois: Vois,
    *,
    liver: str = "liver",
    tumours: Sequence[str] | None = None,
    name: str = NORMAL_LIVER,
) -> Vois:
    """Add ``normal_liver = liver - union(tumours)`` and ``tumors = union(tumours)``.

    Parameters
    ----------
    vois
        Must hold ``liver`` and each tumour.
    liver
        Name of the whole-liver VOI.
    tumours
        Names of the tumour VOIs; by default every name matching :func:`tumour_names`.
    name
        Name of the derived normal-liver VOI.

    Raises
    ------
    VoiNotFoundError
        If the liver or a tumour is missing.
    InputError
        If no tumour is given or found.
    EmptyVoiError
        If the tumours cover the whole liver.
    """
    if liver not in vois:
        raise VoiNotFoundError(f"no liver VOI named {liver!r}; available: {sorted(vois)}")
    chosen = list(tumours) if tumours is not None else tumour_names(n for n in vois if n != liver)
    if not chosen:
        raise InputError(
            "tumours", chosen, f"at least one tumour VOI among {sorted(vois)} (pass tumours=...)"
        )
    union = vois.union(chosen)
    normal = vois[liver] & ~union
    if not normal.any():
        raise EmptyVoiError(f"derived VOI {name!r} is empty: the tumours {chosen} cover {liver!r}")
    return vois.with_masks({name: normal, TUMOURS_UNION: union})


def describe(vois: Mapping[str, Any]) -> str:
    """Comma-separated VOI names for messages."""
    return ", ".join(sorted(vois)) or "none"

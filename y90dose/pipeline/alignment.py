"""Two studies in different frames of reference, brought together for ``compare`` and
``plan from-images``: by a transform file the user gives, or by registering their CTs.

One policy for both commands:

- **A transform given** (field ``transform``): used as given; nothing is registered. It
  follows the ITK convention: it maps points of the *reference* study (the planned run for
  ``compare``; the MAA SPECT/CT for ``plan from-images``) to the corresponding points of
  the *other* study (the delivered run; the image the VOIs were drawn on).
- **Otherwise the CTs are registered** (:func:`register_studies`): the reference study's CT
  is the FIXED image and the other study's CT the MOVING one
  (:func:`y90dose.imaging.registration.register`, its default options unless the caller
  passes others), so the transform found has the same direction as a given one.
- **A failed registration is refused** (:class:`~y90dose.errors.RegistrationError` naming
  ``transform``, with the reasons and the quality figures in its message): its transform
  is never used. The user may register the CTs elsewhere (or with ``y90dose register`` and
  a fixed mask), check the result, and give the transform.
- **What was done is reported**: a :class:`RegistrationReport` (quality, parameters, time)
  in the caller's result, beside a sentence saying how the studies were aligned.

The registration is deterministic (seeded metric sampling): ``y90dose register --fixed
REFERENCE_CT --moving OTHER_CT`` on the same two CTs finds the same transform (to 1e-9)
and writes its quality figure.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk  # noqa: N813
from pydantic import BaseModel, ConfigDict, Field

from y90dose.errors import ImageError, InputError, RegistrationError
from y90dose.imaging.image import Grid, Image
from y90dose.imaging.read import is_utf8_path
from y90dose.imaging.registration import (
    RegistrationOptions,
    RegistrationResult,
    carry_vois,
    register,
)
from y90dose.imaging.vois import Vois
from y90dose.pipeline.inputs import read_ct

RIGID_TOLERANCE = 1e-4
"""Largest deviation of R^T R from the identity (and of det R from 1) for a rigid transform."""

METHOD = "rigid CT-to-CT registration by Mattes mutual information (y90dose.imaging.registration)"


class RegistrationReport(BaseModel):
    """An automatic registration of two studies' CTs that succeeded, and how well.

    Only a registration that passed every check is used (a failed one is refused), so the
    figures are there to be read, not to decide: NMI is Studholme's normalised mutual
    information, 1 for unrelated images and 2 for identical ones.
    """

    model_config = ConfigDict(frozen=True)

    method: str = Field(default=METHOD)
    kind: str = Field(description="rigid, or rigid+bspline")
    convention: str = Field(
        description="the transform maps points of the fixed CT to the moving CT (ITK)"
    )
    fixed_ct: str = Field(description="the reference study's CT (fixed image)")
    moving_ct: str = Field(description="the other study's CT (moving image)")
    nmi_initial: float = Field(description="NMI with the image centres aligned, before registering")
    nmi_final: float = Field(description="NMI after registration")
    min_nmi: float = Field(description="the smallest NMI accepted")
    overlap_fraction: float = Field(
        description="overlap volume over the smaller of the two images' volumes"
    )
    min_overlap_fraction: float = Field(description="the smallest overlap accepted")
    mattes_mi: float = Field(
        description="final Mattes mutual information (negative; lower is better)"
    )
    iterations: dict[str, list[int]] = Field(description="stage -> iterations per level")
    rotation_deg_xyz: list[float] = Field(description="rigid stage: rotations about x, y, z")
    translation_mm_xyz: list[float] = Field(description="rigid stage: translation (mm)")
    center_mm_xyz: list[float] = Field(description="rigid stage: centre of rotation (mm)")
    elapsed_s: float

    @classmethod
    def of(cls, result: RegistrationResult, *, fixed_ct: str, moving_ct: str) -> RegistrationReport:
        """The report of a registration result."""
        rigid = result.rigid_parameters()
        quality = result.quality
        return cls(
            kind=result.kind,
            convention=f"maps points of {fixed_ct} (fixed) to {moving_ct} (moving), ITK",
            fixed_ct=fixed_ct,
            moving_ct=moving_ct,
            nmi_initial=round(quality.nmi_initial, 4),
            nmi_final=round(quality.nmi_final, 4),
            min_nmi=result.options.min_nmi,
            overlap_fraction=round(quality.overlap_fraction, 4),
            min_overlap_fraction=result.options.min_overlap_fraction,
            mattes_mi=result.metric,
            iterations=result.iterations,
            rotation_deg_xyz=rigid["rotation_deg_xyz"],
            translation_mm_xyz=rigid["translation_mm_xyz"],
            center_mm_xyz=rigid["center_mm_xyz"],
            elapsed_s=round(result.elapsed_s, 2),
        )

    def summary(self) -> str:
        """One line: the quality against its thresholds, the rigid parameters, the time."""
        return (
            f"NMI {self.nmi_initial:.3f} -> {self.nmi_final:.3f} (at least {self.min_nmi}), "
            f"overlap {self.overlap_fraction:.0%} (at least {self.min_overlap_fraction:.0%}), "
            f"rotation {self.rotation_deg_xyz} deg, translation {self.translation_mm_xyz} mm, "
            f"{self.elapsed_s:.1f} s"
        )


def read_transform(path: str | Path, *, rigid: bool) -> sitk.Transform:
    """A 3-D ITK transform file (``.tfm``/``.txt``); with ``rigid``, refusing scale, shear,
    flips and deformations.

    Raises
    ------
    InputError
        (``transform``) unreadable, not 3-D, or (with ``rigid``) not rigid.
    """
    if not is_utf8_path(path):  # SimpleITK would abort the process on such a name
        raise InputError("transform", os.fsencode(path), "a file name that is valid UTF-8")
    try:
        transform = sitk.ReadTransform(str(path))
    except RuntimeError as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise InputError(
            "transform", str(path), f"a readable ITK transform file ({message})"
        ) from None
    if transform.GetDimension() != 3:
        raise InputError("transform", str(path), "a 3-D transform")
    if rigid and not is_rigid(transform):
        raise InputError(
            "transform",
            str(path),
            "a rigid transform (rotation + translation: no scale, shear, flip or deformation)",
        )
    return transform


def is_rigid(transform: sitk.Transform) -> bool:
    """True when ``transform`` is a rotation and a translation (checked on probe points)."""
    origin = np.asarray(transform.TransformPoint((0.0, 0.0, 0.0)))
    columns = [
        np.asarray(transform.TransformPoint(tuple(np.eye(3)[axis].tolist()))) - origin
        for axis in range(3)
    ]
    matrix = np.column_stack(columns)
    probes = np.array([[100.0, -50.0, 30.0], [-200.0, 150.0, -100.0], [50.0, 250.0, 300.0]])
    linear = all(
        np.allclose(transform.TransformPoint(tuple(p.tolist())), matrix @ p + origin, atol=1e-3)
        for p in probes
    )
    return bool(
        linear
        and np.allclose(matrix.T @ matrix, np.eye(3), atol=RIGID_TOLERANCE)
        and abs(np.linalg.det(matrix) - 1.0) <= RIGID_TOLERANCE
    )


def read_study_ct(
    path: str | Path, *, field: str, frame_of_reference_uid: str | None, whose: str
) -> Image:
    """A study's CT (HU) for registration; errors name ``field``.

    Parameters
    ----------
    path
        DICOM folder or image file.
    field
        The argument the path came from (``planned_ct``, ``rois_ct``...).
    frame_of_reference_uid
        The frame the CT must be in (its study's), or None when unknown.
    whose
        The study in words, for messages (``"the planned run's study"``).

    Raises
    ------
    InputError
        (``field``) a missing path, or a CT in another frame of reference than its study.
    ImageError
        (``field``) an unreadable CT.
    """
    try:
        ct = read_ct(path)
    except InputError as exc:
        raise InputError(field, exc.value, exc.allowed) from None
    except ImageError as exc:
        raise type(exc)(exc.detail, field=field) from None
    if (
        frame_of_reference_uid is not None
        and ct.frame_of_reference_uid is not None
        and ct.frame_of_reference_uid != frame_of_reference_uid
    ):
        raise InputError(
            field,
            str(path),
            f"the CT of {whose} (FrameOfReferenceUID {frame_of_reference_uid}); this CT's "
            f"is {ct.frame_of_reference_uid}",
        )
    return ct


def register_studies(
    fixed_ct: Image,
    moving_ct: Image,
    *,
    fixed_name: str,
    moving_name: str,
    fixed_field: str,
    moving_field: str,
    points: str,
    options: RegistrationOptions | None = None,
) -> tuple[sitk.Transform, RegistrationReport]:
    """Register ``moving_ct`` onto ``fixed_ct``; the transform (fixed -> moving points) and
    its report, or a refusal.

    Parameters
    ----------
    fixed_name, moving_name
        The CTs in words or paths, for the report and messages.
    fixed_field, moving_field
        The arguments the CTs came from (``planned_ct``...): a CT that cannot be registered
        (a single slice, constant values) is refused naming its argument.
    points
        What a given transform must map, for the refusal (``"planned points to delivered
        points"``).
    options
        :class:`RegistrationOptions` (default: its defaults).

    Raises
    ------
    RegistrationError
        (``transform``) the registration could not run, or failed a check
        (``result.failures``); the message gives the reasons and the quality figures.
    """
    advice = (
        f"register the two CTs yourself (with a fixed mask over what both show, if they "
        f"cover different parts of the body), check the result, and give the transform that "
        f"maps {points}"
    )
    try:
        result = register(fixed_ct, moving_ct, options=options)
    except RegistrationError as exc:
        raise RegistrationError(
            f"is needed: the CTs could not be registered automatically ({exc.detail}); " + advice,
            field="transform",
        ) from None
    except InputError as exc:
        field = {"fixed": fixed_field, "moving": moving_field}.get(exc.field, exc.field)
        raise InputError(field, exc.value, f"{exc.allowed} (to be registered)") from None
    if not result.succeeded:
        q = result.quality
        raise RegistrationError(
            f"is needed: the automatic registration of {moving_name} onto {fixed_name} "
            f"failed ({'; '.join(result.failures)}; NMI {q.nmi_initial:.3f} -> "
            f"{q.nmi_final:.3f}, overlap {q.overlap_fraction:.0%}), so its transform is not "
            "used; " + advice,
            field="transform",
        )
    return result.transform, RegistrationReport.of(
        result, fixed_ct=fixed_name, moving_ct=moving_name
    )


def carry_vois_inside(vois: Vois, transform: sitk.Transform, grid: Grid, *, onto: str) -> Vois:
    """The VOIs carried onto ``grid`` through ``transform`` (grid points -> the VOIs'
    points), refusing a VOI cut by the grid's edge.

    A VOI that reaches the outer faces of the grid after carrying has most likely lost the
    part beyond them (its volume and counts would be wrong), as an RTSTRUCT ROI extending
    beyond the image is refused when read.

    Raises
    ------
    EmptyVoiError
        A VOI maps wholly outside the grid.
    ImageError
        (``vois``) a VOI reaches the grid's edge.
    """
    carried = carry_vois(vois, transform, grid)
    for name, mask in carried.items():
        faces = (mask[0], mask[-1], mask[:, 0], mask[:, -1], mask[:, :, 0], mask[:, :, -1])
        if any(face.any() for face in faces):
            raise ImageError(
                f"VOI {name!r}, carried onto {onto} through the transform, reaches the edge "
                "of its field of view: part of it lies outside, so its volume and counts "
                "would be cut short",
                field="vois",
            )
    return carried


__all__ = [
    "RegistrationReport",
    "carry_vois_inside",
    "is_rigid",
    "read_study_ct",
    "read_transform",
    "register_studies",
]

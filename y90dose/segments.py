"""Couinaud liver segments: the territory a segmental treatment or a segmentectomy names.

Segments I (caudate) to VIII, with IV split into IVa (superior) and IVb (inferior). ``IV``
is accepted as shorthand for both halves and stored as ``IVa, IVb``. The number of
segments a treatment covers counts Couinaud segments, so IVa and IVb together are one
(segment IV): "IVa IVb V" is a two-segment treatment.

The right liver (hemiliver) is V-VIII, the left liver II-IV; the caudate (I) belongs to
neither (Couinaud C. Le foie: etudes anatomiques et chirurgicales. Masson, 1957).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Segment(StrEnum):
    """A Couinaud segment (or IV, shorthand for IVa + IVb). Case does not matter on input."""

    I = "I"  # noqa: E741 (the caudate is segment I)
    II = "II"
    III = "III"
    IV = "IV"
    IVA = "IVa"
    IVB = "IVb"
    V = "V"
    VI = "VI"
    VII = "VII"
    VIII = "VIII"

    @classmethod
    def _missing_(cls, value: object) -> Segment | None:
        if isinstance(value, str):
            for member in cls:
                if member.value.lower() == value.strip().lower():
                    return member
        return None


ANATOMICAL_ORDER: tuple[Segment, ...] = (
    Segment.I,
    Segment.II,
    Segment.III,
    Segment.IVA,
    Segment.IVB,
    Segment.V,
    Segment.VI,
    Segment.VII,
    Segment.VIII,
)
"""The segments as stored (IV expanded), in Couinaud's numbering order."""

RIGHT_LIVER = frozenset({Segment.V, Segment.VI, Segment.VII, Segment.VIII})
LEFT_LIVER = frozenset({Segment.II, Segment.III, Segment.IVA, Segment.IVB})


def normalise(segments: Iterable[Segment | str]) -> list[Segment]:
    """The segments with IV expanded to IVa, IVb, in anatomical order.

    Raises
    ------
    ValueError
        A segment named twice (also IV with IVa or IVb).

    Examples
    --------
    >>> [s.value for s in normalise(["vii", "VI"])]
    ['VI', 'VII']
    >>> [s.value for s in normalise(["IV", "V"])]
    ['IVa', 'IVb', 'V']
    """
    expanded: list[Segment] = []
    for given in segments:
        segment = Segment(given)
        expanded += [Segment.IVA, Segment.IVB] if segment is Segment.IV else [segment]
    repeated = sorted({s.value for s in expanded if expanded.count(s) > 1})
    if repeated:
        raise ValueError(f"each segment once; {', '.join(repeated)} named twice (IV is IVa + IVb)")
    return sorted(expanded, key=ANATOMICAL_ORDER.index)


def couinaud_count(segments: Iterable[Segment]) -> int:
    """Number of Couinaud segments (IVa and IVb together are segment IV)."""
    return len({Segment.IV if s in (Segment.IVA, Segment.IVB) else s for s in segments})


def fitting_delivery(segments: Iterable[Segment]) -> str:
    """The delivery that fits more than two segments: whole-liver when they are all eight,
    lobar when they hold a whole hemiliver (V-VIII or II-IV), else segmental."""
    named = set(segments)
    if named.issuperset(RIGHT_LIVER | LEFT_LIVER | {Segment.I}):
        return "whole-liver"
    return "lobar" if RIGHT_LIVER.issubset(named) or LEFT_LIVER.issubset(named) else "segmental"


def names(segments: Iterable[Segment]) -> str:
    """``VI, VII`` for reports."""
    return ", ".join(s.value for s in segments)

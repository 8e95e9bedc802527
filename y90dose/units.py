"""Unit conversions, done once at the boundary (CLI, API, DICOM reader)."""

from __future__ import annotations

from y90dose.constants import MBQ_PER_MCI


def mci_to_gbq(activity_mci: float) -> float:
    """Millicurie to gigabecquerel (1 mCi = 37 MBq)."""
    return activity_mci * MBQ_PER_MCI.value / 1000.0


def gbq_to_mci(activity_gbq: float) -> float:
    """Gigabecquerel to millicurie (1 mCi = 37 MBq)."""
    return activity_gbq * 1000.0 / MBQ_PER_MCI.value


def volume_ml_to_mass_kg(volume_ml: float, density_g_ml: float) -> float:
    """Mass in kg of ``volume_ml`` millilitres at ``density_g_ml`` g/mL."""
    return volume_ml * density_g_ml / 1000.0


FIELD_UNITS: tuple[tuple[str, str], ...] = (
    ("_j_per_gbq", "J/GBq"),
    ("_per_gy", "1/Gy"),
    ("_g_ml", "g/mL"),
    ("_gbq", "GBq"),
    ("_mci", "mCi"),
    ("_gy", "Gy"),
    ("_ml", "mL"),
    ("_kg", "kg"),
    ("_cm", "cm"),
    ("_mm", "mm"),
    ("_percent", "%"),
    ("_h", "h"),
)
"""Name suffix -> unit: every quantity carries its unit in its name (``activity_gbq``);
the first suffix that matches counts (``eud_alpha_per_gy`` is 1/Gy, not Gy)."""
DIMENSIONLESS_FIELDS = {
    "lsf": "fraction (0.08 = 8 %)",
    "residual": "fraction (0.05 = 5 %)",
    "tn_ratio": "ratio",
    "tumor_lung_shunt_fraction": "fraction (0.08 = 8 %)",
    "sd_lsf": "fraction (0.02 = 2 percentage points)",
}
"""Fields whose value is a pure number, and how it is written."""


def field_unit(name: str) -> str:
    """The unit of an input field, read from its name (``perfused_volume_ml`` -> ``mL``);
    ``""`` for a field that is not a quantity (``product``, ``segments``)."""
    if name in DIMENSIONLESS_FIELDS:
        return DIMENSIONLESS_FIELDS[name]
    for suffix, unit in FIELD_UNITS:
        if name.endswith(suffix):
            return unit
    return ""

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

"""y90dose: Y-90 radioembolization dosimetry (planning models, voxel dosimetry)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

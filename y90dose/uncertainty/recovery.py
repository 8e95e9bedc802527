"""Partial-volume recovery coefficient of a VOI from its size and the image resolution.

The VOI is taken as a sphere of its own volume (radius R) holding a uniform activity, and
the image's point-spread function as a 3-D Gaussian of full width at half maximum FWHM
(sigma = FWHM / sqrt(8 ln 2)). The recovery coefficient is the mean, over the sphere, of
the blurred sphere (the fraction of the sphere's mean activity the image shows inside it):

    RC = (1 / V) x integral over s of g(s) V_lens(s) 4 pi s^2 ds,  s from 0 to 2R,

with g the Gaussian density and V_lens(s) = pi/12 (4R + s)(2R - s)^2 the overlap of two
spheres of radius R whose centres are s apart (the self-overlap form of the blurred
indicator's mean). RC -> 1 for FWHM -> 0, RC -> 0 for R -> 0, and for R >> sigma
RC ~ 1 - 3 sigma / (R sqrt(2 pi)), the spill-out through the sphere's surface.
This is the sphere model of recovery used in Gear JI et al. EJNMMI 2018;45:2456.
"""

from __future__ import annotations

import math

import numpy as np

FWHM_PER_SIGMA = math.sqrt(8.0 * math.log(2.0))
_POINTS = 4001


def sphere_radius_mm(volume_ml: float) -> float:
    """Radius (mm) of the sphere of ``volume_ml``."""
    return (3.0 * volume_ml * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)


def recovery_coefficient(volume_ml: float, fwhm_mm: float) -> float:
    """Mean recovery (0..1) of a uniform sphere of ``volume_ml`` imaged at ``fwhm_mm``.

    Examples
    --------
    A 1 L sphere (R = 62.04 mm) at 10 mm FWHM (sigma 4.247 mm): about
    1 - 3 x 4.247 / (62.04 x 2.5066) = 0.918.

    >>> round(recovery_coefficient(1000.0, 10.0), 3)
    0.918
    """
    if volume_ml <= 0:
        return 0.0
    if fwhm_mm <= 0:
        return 1.0
    radius = sphere_radius_mm(volume_ml)
    sigma = fwhm_mm / FWHM_PER_SIGMA
    # the Gaussian is negligible beyond 10 sigma (e^-50): integrate where it is not, so that
    # a sharp PSF is resolved by the grid
    s = np.linspace(0.0, min(2.0 * radius, 10.0 * sigma), _POINTS)
    lens = math.pi / 12.0 * (4.0 * radius + s) * (2.0 * radius - s) ** 2
    gauss = np.exp(-(s**2) / (2.0 * sigma**2)) / (2.0 * math.pi * sigma**2) ** 1.5
    volume = 4.0 / 3.0 * math.pi * radius**3
    integral = float(np.trapezoid(gauss * lens * 4.0 * math.pi * s**2, s))
    return min(1.0, integral / volume)

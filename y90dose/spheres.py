"""How many microspheres a treatment delivers, and how much activity each carries.

A vial's spheres share its activity evenly, so a drawn share of the vial carries that
share of its spheres (Sirtex, resin) and a whole vial carries all of them (glass). With
a_cal the activity of one sphere at the vial's calibration (constants: glass about
2,500 Bq, Sangro et al. 2014; resin 3 GBq / 44 million = 68.2 Bq, Sirtex):

    a(t)       = a_cal x 2^(-t / T1/2)          (t: hours from calibration to treatment)
    count      = A_delivered / a(t)
    per mL     = count / V_perfused

The count is an estimate: resin vials hold 44 +/- 2.6 million spheres (a 5.9 % standard
deviation carried into ``count_sd``); the glass product data give no spread.
"""

from __future__ import annotations

from y90dose.constants import (
    GLASS_ACTIVITY_PER_SPHERE_BQ,
    RESIN_SPHERES_PER_VIAL,
    RESIN_SPHERES_PER_VIAL_SD,
    RESIN_VIAL_GBQ,
)
from y90dose.decay import decay_factor
from y90dose.devices import Product
from y90dose.findings import Code, Finding, Severity
from y90dose.models.common import Spheres

BQ_PER_GBQ = 1e9


def activity_per_sphere_at_calibration_bq(product: Product) -> float:
    """a_cal (Bq): glass 2,500 Bq; resin a 3 GBq vial over its 44 million spheres."""
    if Product(product) is Product.GLASS:
        return GLASS_ACTIVITY_PER_SPHERE_BQ.value
    return RESIN_VIAL_GBQ.value * BQ_PER_GBQ / RESIN_SPHERES_PER_VIAL.value


def _source(product: Product) -> str:
    if Product(product) is Product.GLASS:
        return GLASS_ACTIVITY_PER_SPHERE_BQ.source
    return RESIN_SPHERES_PER_VIAL.source


def spheres_delivered(
    product: Product,
    delivered_activity_gbq: float,
    time_since_calibration_h: float,
    perfused_volume_ml: float | None = None,
) -> Spheres:
    """The spheres carrying ``delivered_activity_gbq`` at treatment.

    Examples
    --------
    Glass, 3 GBq at calibration: 3e9 / 2500 = 1.2 million spheres; one half-life
    (64.1 h) later each carries 1250 Bq.

    >>> s = spheres_delivered(Product.GLASS, 3.0, 0.0)
    >>> round(s.count), s.activity_per_sphere_bq
    (1200000, 2500.0)
    >>> spheres_delivered(Product.GLASS, 3.0, 64.1).activity_per_sphere_bq
    1250.0
    """
    per_sphere_bq = activity_per_sphere_at_calibration_bq(product) * decay_factor(
        time_since_calibration_h
    )
    count = delivered_activity_gbq * BQ_PER_GBQ / per_sphere_bq
    relative_sd = (
        RESIN_SPHERES_PER_VIAL_SD.value / RESIN_SPHERES_PER_VIAL.value
        if Product(product) is Product.RESIN
        else None
    )
    return Spheres(
        count=count,
        count_sd=None if relative_sd is None else count * relative_sd,
        activity_per_sphere_bq=per_sphere_bq,
        per_ml_perfused=None if perfused_volume_ml is None else count / perfused_volume_ml,
        time_since_calibration_h=time_since_calibration_h,
        source=_source(product),
    )


def embolic_load_findings(product: Product, spheres: Spheres) -> list[Finding]:
    """Resin's embolic load as an info finding: its spheres carry ~1/37 of glass's activity,
    so the same activity takes ~37 times the spheres (stasis can stop a delivery)."""
    if Product(product) is not Product.RESIN:
        return []
    vial_share = spheres.count / RESIN_SPHERES_PER_VIAL.value
    per_ml = (
        f", {spheres.per_ml_perfused:,.0f} per mL perfused"
        if spheres.per_ml_perfused is not None
        else ""
    )
    return [
        Finding(
            severity=Severity.INFO,
            code=Code.SPHERES_EMBOLIC_LOAD,
            message=f"embolic load: about {spheres.count / 1e6:.1f} million resin spheres "
            f"({vial_share:.0%} of a {RESIN_VIAL_GBQ.value:g} GBq vial's "
            f"{RESIN_SPHERES_PER_VIAL.value / 1e6:g} million){per_ml}; resin carries "
            f"{spheres.activity_per_sphere_bq:.0f} Bq per sphere, so its activity comes with "
            "many spheres: watch for stasis while delivering",
        )
    ]

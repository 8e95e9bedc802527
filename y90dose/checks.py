"""Clinical checks that turn a computed plan into findings.

Every threshold comes from :class:`~y90dose.settings.ClinicalSettings` (defaults and their
sources in :mod:`y90dose.constants`). The checks never change a number; they only report.
"""

from __future__ import annotations

from collections.abc import Sequence

from y90dose.constants import (
    COUINAUD_SEGMENT_MAX_LIVER_FRACTION,
    GLASS_VIALS_GBQ,
    RESIN_VIAL_GBQ,
    SEGMENTECTOMY_FLOOR_CITATIONS,
    SEGMENTECTOMY_FLOORS,
    SEGMENTECTOMY_MAX_SEGMENTS,
)
from y90dose.delivery import Delivery
from y90dose.devices import Product, default_energy_j_per_gbq
from y90dose.findings import Code, Finding, Severity, beside
from y90dose.models.common import SEGMENT_DELIVERIES, PlanOptions, SegmentectomyCheck
from y90dose.segments import couinaud_count, fitting_delivery
from y90dose.segments import names as segment_names
from y90dose.settings import ClinicalSettings

RELATIVE_TOLERANCE = 1e-9
"""Doses equal to a threshold up to floating-point rounding count as meeting it."""


def _above(value: float, limit: float) -> bool:
    return value > limit * (1.0 + RELATIVE_TOLERANCE)


def _below(value: float, limit: float) -> bool:
    return value < limit * (1.0 - RELATIVE_TOLERANCE)


def lung_allowance_gy(prior_lung_dose_gy: float, settings: ClinicalSettings) -> float:
    """The lung dose a treatment may still give (Gy): the per-treatment limit, or what the
    cumulative limit leaves after the prior treatments, whichever is lower."""
    return min(
        settings.lung_dose_limit_gy,
        settings.lung_dose_cumulative_limit_gy - prior_lung_dose_gy,
    )


def lung_findings(
    lung_dose_gy: float, options: PlanOptions, settings: ClinicalSettings
) -> list[Finding]:
    """Per-treatment and cumulative lung dose against their limits."""
    found: list[Finding] = []
    cumulative_gy = options.prior_lung_dose_gy + lung_dose_gy
    if _above(lung_dose_gy, settings.lung_dose_limit_gy):
        found.append(
            Finding(
                severity=Severity.BLOCK,
                code=Code.LUNG_DOSE_OVER_LIMIT,
                message=f"lung dose {beside(lung_dose_gy, settings.lung_dose_limit_gy)} Gy exceeds "
                f"the per-treatment limit "
                f"of {settings.lung_dose_limit_gy:g} Gy",
            )
        )
    if _above(cumulative_gy, settings.lung_dose_cumulative_limit_gy):
        found.append(
            Finding(
                severity=Severity.BLOCK,
                code=Code.LUNG_DOSE_CUMULATIVE_OVER_LIMIT,
                message="cumulative lung dose "
                f"{beside(cumulative_gy, settings.lung_dose_cumulative_limit_gy)} Gy (prior "
                f"{options.prior_lung_dose_gy:g} Gy + this {lung_dose_gy:.1f} Gy) exceeds "
                f"the limit of {settings.lung_dose_cumulative_limit_gy:g} Gy",
            )
        )
    if not found:
        fraction = settings.lung_dose_warning_fraction
        near_single = lung_dose_gy > fraction * settings.lung_dose_limit_gy
        near_cumulative = cumulative_gy > fraction * settings.lung_dose_cumulative_limit_gy
        if near_single or near_cumulative:
            found.append(
                Finding(
                    severity=Severity.WARNING,
                    code=Code.LUNG_DOSE_NEAR_LIMIT,
                    message=f"lung dose {lung_dose_gy:.1f} Gy (cumulative {cumulative_gy:.1f} Gy) "
                    f"is above {fraction:.0%} of its limit "
                    f"({settings.lung_dose_limit_gy:g} Gy per treatment, "
                    f"{settings.lung_dose_cumulative_limit_gy:g} Gy cumulative)",
                )
            )
    if options.lsf > 0 and "lung_mass_kg" not in options.model_fields_set:
        found.append(
            Finding(
                severity=Severity.INFO,
                code=Code.LUNG_MASS_ASSUMED,
                message=f"lung mass assumed {options.lung_mass_kg:g} kg; a CT-derived lung mass "
                "gives a better lung dose",
            )
        )
    return found


def lsf_findings(options: PlanOptions, settings: ClinicalSettings) -> list[Finding]:
    """Resin is not given above its LSF limit (IFU-resin)."""
    if options.product is Product.RESIN and _above(options.lsf, settings.resin_lsf_limit):
        return [
            Finding(
                severity=Severity.BLOCK,
                code=Code.LSF_OVER_RESIN_LIMIT,
                message="lung shunt fraction "
                f"{beside(options.lsf * 100, settings.resin_lsf_limit * 100)}% exceeds the "
                "resin limit of "
                f"{settings.resin_lsf_limit * 100:g}%: do not treat with resin",
            )
        ]
    return []


def segmentectomy_check(
    options: PlanOptions, settings: ClinicalSettings
) -> SegmentectomyCheck | None:
    """The segmentectomy definition a plan is held to (None unless delivery segmentectomy)."""
    if options.delivery is not Delivery.SEGMENTECTOMY:
        return None
    floor = settings.segmentectomy_floor(options.product.value)
    name = next(key for key, value in SEGMENTECTOMY_FLOORS.items() if value is floor)
    return SegmentectomyCheck(
        definition=name,
        floor_gy=floor.value,
        floor_citation=SEGMENTECTOMY_FLOOR_CITATIONS[name],
        floor_source=floor.source,
        ablative_gy=(
            settings.glass_segmentectomy_ablative_gy if options.product is Product.GLASS else None
        ),
        segment_count=None if options.segments is None else couinaud_count(options.segments),
    )


def segmentectomy_findings(
    perfused_dose_gy: float, options: PlanOptions, settings: ClinicalSettings
) -> list[Finding]:
    """A radiation segmentectomy below its floor (warning) or, for glass, below the EANM
    2022 ablative level (info). A dose equal to a threshold meets it."""
    check = segmentectomy_check(options, settings)
    if check is None:
        return []
    found: list[Finding] = []
    if _below(perfused_dose_gy, check.floor_gy):
        found.append(
            Finding(
                severity=Severity.WARNING,
                code=Code.SEGMENTECTOMY_BELOW_THRESHOLD,
                message="radiation segmentectomy with perfused dose "
                f"{beside(perfused_dose_gy, check.floor_gy)} Gy "
                f"is below the {check.floor_gy:g} Gy floor ({check.definition}: "
                f"{check.floor_citation})",
            )
        )
    if check.ablative_gy is not None and _below(perfused_dose_gy, check.ablative_gy):
        found.append(
            Finding(
                severity=Severity.INFO,
                code=Code.SEGMENTECTOMY_BELOW_ABLATIVE,
                message=f"perfused dose {beside(perfused_dose_gy, check.ablative_gy)} Gy is "
                "below the "
                f"{check.ablative_gy:g} Gy EANM 2022 level for an ablative glass "
                "segmentectomy (Table 2)",
            )
        )
    return found


def segment_findings(
    options: PlanOptions, perfused_volume_ml: float, liver_volume_ml: float | None
) -> list[Finding]:
    """The segments a segmental treatment or segmentectomy names, against its volume.

    - segmentectomy of more than two Couinaud segments: warning naming the delivery that
      fits (lobar when they hold a hemiliver, else segmental);
    - no segments named: info;
    - with the whole-liver volume known, a perfused volume above n x 38 % of it for n named
      segments: warning (COUINAUD_SEGMENT_MAX_LIVER_FRACTION, Mise et al. 2014).
    """
    if options.delivery not in SEGMENT_DELIVERIES:
        return []
    if options.segments is None:
        return [
            Finding(
                severity=Severity.INFO,
                code=Code.SEGMENTS_NOT_NAMED,
                message=f"{options.delivery.value} delivery without the treated segments: name "
                "them (segments) so that the plan records and checks them",
            )
        ]
    found: list[Finding] = []
    count = couinaud_count(options.segments)
    listed = segment_names(options.segments)
    if options.delivery is Delivery.SEGMENTECTOMY and count > SEGMENTECTOMY_MAX_SEGMENTS:
        fits = fitting_delivery(options.segments)
        found.append(
            Finding(
                severity=Severity.WARNING,
                code=Code.SEGMENTECTOMY_TOO_MANY_SEGMENTS,
                message=f"a radiation segmentectomy treats one or two segments; {count} are named "
                f"({listed}): this is a {fits} treatment",
            )
        )
    if liver_volume_ml is not None:
        fraction = min(1.0, count * COUINAUD_SEGMENT_MAX_LIVER_FRACTION.value)
        plausible_ml = fraction * liver_volume_ml
        if _above(perfused_volume_ml, plausible_ml):
            found.append(
                Finding(
                    severity=Severity.WARNING,
                    code=Code.PERFUSED_VOLUME_EXCEEDS_SEGMENTS,
                    message=f"perfused volume {perfused_volume_ml:.0f} mL is more than {count} "
                    f"segment(s) ({listed}) can hold: at most {plausible_ml:.0f} mL "
                    f"({fraction:.0%} of the {liver_volume_ml:.0f} mL liver; no segment exceeded "
                    f"{COUINAUD_SEGMENT_MAX_LIVER_FRACTION.value:.0%} of the liver in Mise et al., "
                    "HPB 2014): check the segments named or the perfused volume",
                )
            )
    return found


def perfused_range_findings(
    perfused_dose_gy: float, options: PlanOptions, settings: ClinicalSettings
) -> list[Finding]:
    """Glass MIRD perfused dose outside the EANM 2022 80-150 Gy range (not segmentectomy)."""
    if options.delivery is Delivery.SEGMENTECTOMY or options.product is not Product.GLASS:
        return []
    low, high = settings.glass_perfused_dose_min_gy, settings.glass_perfused_dose_max_gy
    if _below(perfused_dose_gy, low):
        code, side, limit = Code.PERFUSED_DOSE_BELOW_RANGE, "below", low
    elif _above(perfused_dose_gy, high):
        code, side, limit = Code.PERFUSED_DOSE_ABOVE_RANGE, "above", high
    else:
        return []
    return [
        Finding(
            severity=Severity.WARNING,
            code=code,
            message=f"perfused dose {beside(perfused_dose_gy, limit)} Gy is {side} the EANM 2022 "
            f"range for glass ({low:g}-{high:g} Gy)",
        )
    ]


def compartment_findings(
    normal_dose_gy: float,
    tumor_doses_gy: Sequence[float],
    options: PlanOptions,
    settings: ClinicalSettings,
) -> list[Finding]:
    """Normal-liver and tumour doses of a partition plan (EANM 2022 Tables 2 and 3)."""
    found: list[Finding] = []
    glass = options.product is Product.GLASS
    normal_max = settings.glass_normal_liver_max_gy if glass else settings.resin_normal_liver_max_gy
    tumor_min = settings.glass_tumor_dose_min_gy if glass else settings.resin_tumor_dose_min_gy
    # In a segmentectomy the perfused normal liver is ablated on purpose.
    if options.delivery is not Delivery.SEGMENTECTOMY and _above(normal_dose_gy, normal_max):
        found.append(
            Finding(
                severity=Severity.WARNING,
                code=Code.NORMAL_LIVER_DOSE_HIGH,
                message="perfused normal-liver dose "
                f"{beside(normal_dose_gy, normal_max)} Gy exceeds "
                f"{normal_max:g} Gy ({options.product.value}, EANM 2022)",
            )
        )
    for index, tumor_gy in enumerate(tumor_doses_gy, start=1):
        if _below(tumor_gy, tumor_min):
            found.append(
                Finding(
                    severity=Severity.WARNING,
                    code=Code.TUMOR_DOSE_LOW,
                    message=f"tumour {index} dose {beside(tumor_gy, tumor_min)} Gy is below "
                    f"{tumor_min:g} Gy "
                    f"({options.product.value}, EANM 2022)",
                )
            )
    return found


def largest_vial_gbq(product: Product) -> float:
    """The largest single vial of a product at calibration (GBq)."""
    return max(GLASS_VIALS_GBQ) if product is Product.GLASS else RESIN_VIAL_GBQ.value


def activity_findings(activity_gbq: float, options: PlanOptions) -> list[Finding]:
    """Activity larger than one vial holds at calibration, and a non-default constant."""
    found: list[Finding] = []
    largest = largest_vial_gbq(options.product)
    if _above(activity_gbq, largest):
        found.append(
            Finding(
                severity=Severity.WARNING,
                code=Code.ACTIVITY_ABOVE_LARGEST_VIAL,
                message=f"activity {beside(activity_gbq, largest, 2)} GBq is above the largest "
                f"{options.product.value} vial ({largest:g} GBq at calibration): more than one "
                "vial is needed",
            )
        )
    default = default_energy_j_per_gbq(options.product).value
    if options.energy_j_per_gbq is not None and options.energy_j_per_gbq != default:
        found.append(
            Finding(
                severity=Severity.INFO,
                code=Code.ENERGY_CONSTANT_NON_DEFAULT,
                message=f"energy constant {options.energy_j_per_gbq:g} J/GBq used instead of the "
                f"{options.product.value} default {default:g} J/GBq",
            )
        )
    return found

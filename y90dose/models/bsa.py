"""Body-surface-area (BSA) method for resin microspheres (IFU-resin).

BSA (m2) = 0.20247 x H(m)^0.725 x W(kg)^0.425 (DuBois), and
A_whole (GBq) = (BSA - 0.2) + V_T / (V_T + V_N), with V_T + V_N the whole liver.
A lobar or segmental treatment gets A_whole x V_treated / V_liver (a treated volume below
the liver volume makes the delivery lobar unless the caller states segmental or
segmentectomy; stating "whole" with it is refused as contradictory). The lung shunt then
reduces the activity (IFU-resin; Grosser OS et al., JVIR 2015):

=================  =========
LSF                reduction
=================  =========
LSF < 10 %         none
10 % <= LSF < 15 % 20 %
15 % <= LSF <= 20% 40 %
LSF > 20 %         do not treat (block; activity reported unreduced)
=================  =========

So exactly 10 % takes the 20 % reduction, exactly 15 % the 40 % reduction, and exactly
20 % is still treatable with the 40 % reduction. The BSA method has no inverse: the doses
it reports are MIRD doses of its activity over the treated volume.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from y90dose.constants import (
    BSA_DUBOIS_COEFFICIENT,
    BSA_DUBOIS_HEIGHT_EXPONENT,
    BSA_DUBOIS_WEIGHT_EXPONENT,
    BSA_LSF_REDUCTION_BANDS,
    BSA_OFFSET_M2,
    RESIN_LSF_LIMIT,
)
from y90dose.delivery import Delivery
from y90dose.devices import Product
from y90dose.errors import InputError
from y90dose.findings import Code, Finding, Severity
from y90dose.lung import lung_dose_gy
from y90dose.models.common import MIN_VOLUME_ML, PlanOptions, PlanResult
from y90dose.models.mird import mird_dose_gy, mird_result
from y90dose.settings import DEFAULT_SETTINGS, ClinicalSettings
from y90dose.uncertainty.inputs import (
    PLAN_MEANING,
    UncertaintyOptions,
    fraction_input,
    relative_input,
    standard_sds,
)
from y90dose.uncertainty.model import ModelArrays, UncertainInput, Values
from y90dose.units import volume_ml_to_mass_kg


class BsaPlanInput(PlanOptions, UncertaintyOptions):
    """Patient size and liver volumes for the BSA method (resin only)."""

    product: Product = Field(Product.RESIN, description="the BSA method is for resin only")
    height_cm: float = Field(gt=50.0, le=250.0, description="patient height (cm)")
    weight_kg: float = Field(gt=20.0, le=300.0, description="patient weight (kg)")
    tumor_volume_ml: float = Field(ge=0.0, description="total tumour volume (mL)")
    liver_volume_ml: float = Field(
        ge=MIN_VOLUME_ML, le=10000.0, description="whole liver volume, tumour included (mL)"
    )
    treated_volume_ml: float | None = Field(
        None,
        ge=MIN_VOLUME_ML,
        le=10000.0,
        description="volume of the lobe or segments treated (mL); default whole liver",
    )

    @field_validator("liver_volume_ml")
    @classmethod
    def _liver_holds_tumor(cls, liver_ml: float, info: ValidationInfo) -> float:
        tumor_ml = info.data.get("tumor_volume_ml")
        if tumor_ml is not None and tumor_ml >= liver_ml:
            raise ValueError(
                f"more than tumor_volume_ml ({tumor_ml:g} mL): the liver volume includes the tumour"
            )
        return liver_ml

    @field_validator("treated_volume_ml")
    @classmethod
    def _treated_within_liver(cls, treated_ml: float | None, info: ValidationInfo) -> float | None:
        liver_ml = info.data.get("liver_volume_ml")
        if treated_ml is not None and liver_ml is not None and treated_ml > liver_ml:
            raise ValueError(f"at most liver_volume_ml ({liver_ml:g} mL)")
        return treated_ml


def body_surface_area_m2(height_cm: float, weight_kg: float) -> float:
    """DuBois body surface area (m2): 0.20247 x H(m)^0.725 x W(kg)^0.425."""
    return (
        BSA_DUBOIS_COEFFICIENT
        * (height_cm / 100.0) ** BSA_DUBOIS_HEIGHT_EXPONENT
        * weight_kg**BSA_DUBOIS_WEIGHT_EXPONENT
    )


def whole_liver_activity_gbq(bsa_m2: float, tumor_volume_ml: Any, liver_volume_ml: Any) -> Any:
    """A_whole (GBq) = (BSA - 0.2) + V_T / V_liver (numbers or arrays)."""
    return (bsa_m2 - BSA_OFFSET_M2) + tumor_volume_ml / liver_volume_ml


def lsf_reduction(lsf: float) -> float | None:
    """Fractional activity reduction for a lung shunt fraction; None above 20 % (do not treat).

    The top band includes its upper edge: LSF = 0.20 exactly takes the 40 % reduction.
    """
    if lsf > RESIN_LSF_LIMIT.value:
        return None
    for lower, upper, reduction in BSA_LSF_REDUCTION_BANDS:
        if lower <= lsf < upper:
            return reduction
    return BSA_LSF_REDUCTION_BANDS[-1][2]  # lsf == 0.20 exactly


def plan_bsa(inputs: BsaPlanInput, settings: ClinicalSettings = DEFAULT_SETTINGS) -> PlanResult:
    """Resin activity by the BSA method, with its MIRD doses over the treated volume.

    Examples
    --------
    175 cm, 75 kg: BSA = 0.20247 x 1.50038 x 6.26471 = 1.90311 m2; tumour 450 of 1500 mL:
    A_whole = 1.70311 + 0.3 = 2.00311 GBq; LSF 12 % -> x 0.8 = 1.60249 GBq.

    >>> r = plan_bsa(BsaPlanInput(height_cm=175, weight_kg=75, tumor_volume_ml=450,
    ...     liver_volume_ml=1500, lsf=0.12))
    >>> round(r.activity_gbq, 4)
    1.6025
    """
    if inputs.product is not Product.RESIN:
        raise InputError(
            "product", inputs.product.value, "resin: the BSA method is defined for resin only"
        )
    bsa_m2 = body_surface_area_m2(inputs.height_cm, inputs.weight_kg)
    whole_liver_gbq = whole_liver_activity_gbq(
        bsa_m2, inputs.tumor_volume_ml, inputs.liver_volume_ml
    )
    if whole_liver_gbq <= 0:
        raise InputError(
            "height_cm/weight_kg",
            f"{inputs.height_cm:g} cm, {inputs.weight_kg:g} kg",
            "a patient size whose BSA activity is positive",
        )
    treated_ml = inputs.treated_volume_ml or inputs.liver_volume_ml
    treated_fraction = treated_ml / inputs.liver_volume_ml
    delivery_inferred = False
    if treated_fraction < 1.0 and inputs.delivery is Delivery.WHOLE:
        if "delivery" in inputs.model_fields_set:
            raise InputError(
                "delivery",
                "whole",
                "lobar, segmental or segmentectomy when treated_volume_ml is below liver_volume_ml",
            )
        inputs = inputs.model_copy(update={"delivery": Delivery.LOBAR})
        delivery_inferred = True
    reduction = lsf_reduction(inputs.lsf)
    activity = whole_liver_gbq * treated_fraction * (1.0 - (reduction or 0.0))

    findings: list[Finding] = []
    if reduction:
        findings.append(
            Finding(
                severity=Severity.INFO,
                code=Code.BSA_LSF_REDUCTION,
                message=f"lung shunt {inputs.lsf:.1%}: BSA activity reduced by {reduction:.0%}",
            )
        )
    result = mird_result(
        inputs,
        activity,
        treated_ml,
        "plan",
        settings,
        model="bsa",
        findings_first=findings,
        liver_volume_ml=inputs.liver_volume_ml,
        details={
            "bsa_m2": bsa_m2,
            "whole_liver_activity_gbq": whole_liver_gbq,
            "treated_fraction": treated_fraction,
            "lsf_reduction": reduction,
            "delivery_inferred_from_treated_volume": delivery_inferred,
        },
    )
    if not inputs.uncertainty_requested():
        return result
    model = bsa_arrays(inputs, result)
    uncertainty = model.propagate(draws=inputs.uncertainty_draws, seed=inputs.uncertainty_seed)
    return result.model_copy(update={"uncertainty": uncertainty})


def _reduction_or_none(lsf: float) -> float:
    """The BSA reduction at ``lsf``, 0 above the limit (the activity is reported unreduced)."""
    return lsf_reduction(float(lsf)) or 0.0


def bsa_arrays(inputs: BsaPlanInput, result: PlanResult) -> ModelArrays:
    """The BSA plan as arrays of the tumour, liver and treated volumes, the LSF, the
    activity and the lung mass, through
    :func:`whole_liver_activity_gbq`, :func:`lsf_reduction` (its bands are steps: at a band
    edge there is no first-order SD), :func:`~y90dose.models.mird.mird_dose_gy` and
    :func:`~y90dose.lung.lung_dose_gy`. Height and weight are taken as exact.
    """
    sds = standard_sds(inputs, lung_mass_given="lung_mass_kg" in inputs.model_fields_set)
    planned_gbq = result.activity_gbq
    items: list[UncertainInput] = []
    if inputs.tumor_volume_ml > 0:
        items.append(relative_input("tumor_volume_ml", inputs.tumor_volume_ml, sds["volume"]))
    items.append(relative_input("liver_volume_ml", inputs.liver_volume_ml, sds["volume"]))
    separate_treated = inputs.treated_volume_ml is not None
    if inputs.treated_volume_ml is not None:
        items.append(relative_input("treated_volume_ml", inputs.treated_volume_ml, sds["volume"]))
    items += [
        fraction_input("lsf", inputs.lsf, sds["lsf"]),
        relative_input("activity_gbq", planned_gbq, sds["activity"]),
        relative_input("lung_mass_kg", inputs.lung_mass_kg, sds["lung_mass"]),
    ]
    bsa_m2 = float(result.details["bsa_m2"])
    energy, residual = inputs.energy(), inputs.residual
    import numpy as np  # only when the uncertainty or curves are asked for

    reduction = np.vectorize(_reduction_or_none, otypes=[np.float64])

    def evaluate(v: Values) -> dict[str, Any]:
        liver_ml = v["liver_volume_ml"]
        treated_ml = v["treated_volume_ml"] if separate_treated else liver_ml
        tumor_ml = v["tumor_volume_ml"] if inputs.tumor_volume_ml > 0 else 0.0
        whole_gbq = whole_liver_activity_gbq(bsa_m2, tumor_ml, liver_ml)
        needed_gbq = whole_gbq * (treated_ml / liver_ml) * (1.0 - reduction(v["lsf"]))
        given_gbq = v["activity_gbq"]
        mass_kg = volume_ml_to_mass_kg(treated_ml, inputs.density_g_ml)
        lung = lung_dose_gy(given_gbq * (1.0 - residual), v["lsf"], v["lung_mass_kg"], energy)
        return {
            "activity_gbq": needed_gbq * planned_gbq / given_gbq,
            "perfused": mird_dose_gy(given_gbq, mass_kg, v["lsf"], residual, energy),
            "lung": lung,
        }

    expected = {name: result.dose_gy(name) for name in ("perfused", "lung")}
    expected["activity_gbq"] = planned_gbq
    return ModelArrays(
        inputs=tuple(items),
        evaluate=evaluate,
        expected=expected,
        drivers_of="perfused",
        meaning=PLAN_MEANING,
        shifted={"lung_cumulative": ("lung", inputs.prior_lung_dose_gy)},
    )

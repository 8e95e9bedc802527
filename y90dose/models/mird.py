"""MIRD single-compartment model (glass IFU form).

D = C x A x (1 - LSF) x (1 - R) / M_perfused, hence
A = D x M_perfused / (C x (1 - LSF) x (1 - R)),
with M_perfused = V_perfused x density (physics.md 4.1; IFU-glass; MPPG14a). The lung
receives C x A x (1 - R) x LSF / M_L, so perfused plus lung energy equals C x A x (1 - R).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from y90dose.checks import (
    activity_findings,
    lsf_findings,
    lung_allowance_gy,
    lung_findings,
    perfused_range_findings,
    segment_findings,
    segmentectomy_check,
    segmentectomy_findings,
)
from y90dose.findings import Finding
from y90dose.lung import lung_dose_gy
from y90dose.models.common import (
    MAX_ACTIVITY_GBQ,
    MIN_ACTIVITY_GBQ,
    MIN_VOLUME_ML,
    PlanOptions,
    PlanResult,
    check_liver_holds,
    check_liver_used,
    constants_used,
    liver_volume_field,
)
from y90dose.models.lsf_bound import with_lsf_bound
from y90dose.settings import DEFAULT_SETTINGS, ClinicalSettings
from y90dose.spheres import embolic_load_findings, spheres_delivered
from y90dose.uncertainty.inputs import (
    DOSE_MEANING,
    PLAN_MEANING,
    UncertaintyOptions,
    fraction_input,
    relative_input,
    standard_sds,
)
from y90dose.uncertainty.model import ModelArrays, Values
from y90dose.uncertainty.result import Uncertainty
from y90dose.units import volume_ml_to_mass_kg


class _MirdVolumes(PlanOptions, UncertaintyOptions):
    """The perfused volume and, optionally, the whole liver that holds it."""

    perfused_volume_ml: float = Field(
        ge=MIN_VOLUME_ML, le=10000.0, description="perfused volume incl. tumour (mL)"
    )
    liver_volume_ml: float | None = liver_volume_field()

    @field_validator("liver_volume_ml")
    @classmethod
    def _liver_holds_perfused(cls, liver_ml: float | None, info: ValidationInfo) -> float | None:
        check_liver_holds(liver_ml, info.data.get("perfused_volume_ml"), "perfused_volume_ml")
        check_liver_used(liver_ml, info.data)
        return liver_ml


class MirdPlanInput(_MirdVolumes):
    """Plan by MIRD: the perfused-volume dose to reach."""

    target_dose_gy: float = Field(gt=0.0, le=2000.0, description="perfused-volume dose (Gy)")


class MirdDoseInput(_MirdVolumes):
    """Doses by MIRD from an activity."""

    activity_gbq: float = Field(
        ge=MIN_ACTIVITY_GBQ, le=MAX_ACTIVITY_GBQ, description="administered activity (GBq)"
    )


def mird_activity_gbq(
    dose_gy: float, mass_kg: float, lsf: float, residual: float, energy_j_per_gbq: float
) -> float:
    """A = D x M / (C x (1 - LSF) x (1 - R)): divide by the lung and residual losses."""
    return dose_gy * mass_kg / (energy_j_per_gbq * (1.0 - lsf) * (1.0 - residual))


def mird_dose_gy(
    activity_gbq: float, mass_kg: float, lsf: float, residual: float, energy_j_per_gbq: float
) -> float:
    """D = C x A x (1 - LSF) x (1 - R) / M."""
    return energy_j_per_gbq * activity_gbq * (1.0 - lsf) * (1.0 - residual) / mass_kg


def mird_result(
    options: PlanOptions,
    activity_gbq: float,
    perfused_volume_ml: float,
    direction: str,
    settings: ClinicalSettings,
    *,
    model: str = "mird",
    details: dict[str, object] | None = None,
    findings_first: Sequence[Finding] = (),
    liver_volume_ml: float | None = None,
) -> PlanResult:
    """Doses and findings of ``activity_gbq`` spread uniformly over the perfused volume.

    Shared by the MIRD model and the BSA method (whose doses are MIRD doses of its
    activity); ``model``, ``details`` and ``findings_first`` say which method made it;
    ``liver_volume_ml`` (the whole liver, when known) checks the named segments.
    """
    energy = options.energy()
    mass_kg = volume_ml_to_mass_kg(perfused_volume_ml, options.density_g_ml)
    delivered_gbq = activity_gbq * (1.0 - options.residual)
    perfused_gy = mird_dose_gy(activity_gbq, mass_kg, options.lsf, options.residual, energy)
    lung_gy = lung_dose_gy(delivered_gbq, options.lsf, options.lung_mass_kg, energy)
    allowance_gy = lung_allowance_gy(options.prior_lung_dose_gy, settings)
    spheres = spheres_delivered(
        options.product, delivered_gbq, options.time_since_calibration_h, perfused_volume_ml
    )
    findings = [
        *findings_first,
        *lsf_findings(options, settings),
        *lung_findings(lung_gy, options, settings),
        *segmentectomy_findings(perfused_gy, options, settings),
        *segment_findings(options, perfused_volume_ml, liver_volume_ml),
        *perfused_range_findings(perfused_gy, options, settings),
        *activity_findings(activity_gbq, options),
        *embolic_load_findings(options.product, spheres),
    ]
    result = PlanResult(
        model=model,
        direction=direction,
        product=options.product,
        delivery=options.delivery,
        activity_gbq=activity_gbq,
        delivered_activity_gbq=delivered_gbq,
        doses_gy={
            "perfused": perfused_gy,
            "lung": lung_gy,
            "lung_cumulative": options.prior_lung_dose_gy + lung_gy,
        },
        masses_kg={"perfused": mass_kg, "lung": options.lung_mass_kg},
        lsf=options.lsf,
        residual=options.residual,
        findings=findings,
        constants=constants_used(options),
        details=details or {},
        segments=options.segments,
        segmentectomy=segmentectomy_check(options, settings),
        spheres=spheres,
    )
    return with_lsf_bound(result, allowance_gy)


def plan_mird(inputs: MirdPlanInput, settings: ClinicalSettings = DEFAULT_SETTINGS) -> PlanResult:
    """Activity that gives ``target_dose_gy`` to the perfused volume, with its doses.

    Examples
    --------
    120 Gy to 1165 mL at 1.03 g/mL (1.19995 kg), LSF 8 %, glass (50 J/GBq):
    A = 120 x 1.19995 / (50 x 0.92) = 3.1303 GBq.

    >>> r = plan_mird(MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1165, lsf=0.08))
    >>> round(r.activity_gbq, 4)
    3.1303
    """
    mass_kg = volume_ml_to_mass_kg(inputs.perfused_volume_ml, inputs.density_g_ml)
    activity = mird_activity_gbq(
        inputs.target_dose_gy, mass_kg, inputs.lsf, inputs.residual, inputs.energy()
    )
    result = mird_result(
        inputs,
        activity,
        inputs.perfused_volume_ml,
        "plan",
        settings,
        liver_volume_ml=inputs.liver_volume_ml,
    )
    return _with_uncertainty(inputs, result, inputs.target_dose_gy)


def dose_mird(inputs: MirdDoseInput, settings: ClinicalSettings = DEFAULT_SETTINGS) -> PlanResult:
    """Perfused-volume and lung doses that ``activity_gbq`` gives (the inverse of plan_mird)."""
    result = mird_result(
        inputs,
        inputs.activity_gbq,
        inputs.perfused_volume_ml,
        "dose",
        settings,
        liver_volume_ml=inputs.liver_volume_ml,
    )
    return _with_uncertainty(inputs, result, None)


def _with_uncertainty(
    inputs: _MirdVolumes, result: PlanResult, target_dose_gy: float | None
) -> PlanResult:
    if not inputs.uncertainty_requested():
        return result
    return result.model_copy(
        update={"uncertainty": mird_uncertainty(inputs, result, target_dose_gy)}
    )


def mird_uncertainty(
    inputs: _MirdVolumes, result: PlanResult, target_dose_gy: float | None
) -> Uncertainty:
    """Uncertainty of a MIRD result from the SDs of the perfused volume, LSF, activity and
    lung mass, propagated through the model's functions (:func:`mird_arrays`).

    Examples
    --------
    MIRD D = C x A x (1 - LSF) / M: a 2 % SD of the perfused volume alone gives the
    perfused dose a 2 % SD (115.0 Gy x 0.02 = 2.30 Gy) to first order.

    >>> r = dose_mird(MirdDoseInput(activity_gbq=3, perfused_volume_ml=1165, lsf=0.08,
    ...     sd_volume_percent=2, sd_lsf=0, sd_activity_percent=0, sd_lung_mass_percent=0))
    >>> round(r.uncertainty.doses_gy["perfused"].sd_first_order, 2)
    2.3
    """
    model = mird_arrays(inputs, result, target_dose_gy)
    return model.propagate(draws=inputs.uncertainty_draws, seed=inputs.uncertainty_seed)


def mird_arrays(
    inputs: _MirdVolumes, result: PlanResult, target_dose_gy: float | None
) -> ModelArrays:
    """The MIRD result as arrays: :func:`mird_activity_gbq`, :func:`mird_dose_gy` and
    :func:`~y90dose.lung.lung_dose_gy` of the perfused volume, LSF, activity and lung mass
    (``target_dose_gy``: a plan, which also gives the activity needed; None: a dose).
    """
    sds = standard_sds(inputs, lung_mass_given="lung_mass_kg" in inputs.model_fields_set)
    planned_gbq = result.activity_gbq
    items = [
        relative_input("perfused_volume_ml", inputs.perfused_volume_ml, sds["volume"]),
        fraction_input("lsf", inputs.lsf, sds["lsf"]),
        relative_input("activity_gbq", planned_gbq, sds["activity"]),
        relative_input("lung_mass_kg", inputs.lung_mass_kg, sds["lung_mass"]),
    ]
    energy, residual = inputs.energy(), inputs.residual

    def evaluate(v: Values) -> dict[str, Any]:
        mass_kg = volume_ml_to_mass_kg(v["perfused_volume_ml"], inputs.density_g_ml)
        given_gbq = v["activity_gbq"]  # the activity actually given for the planned reading
        out: dict[str, Any] = {}
        if target_dose_gy is not None:
            needed_gbq = mird_activity_gbq(target_dose_gy, mass_kg, v["lsf"], residual, energy)
            out["activity_gbq"] = needed_gbq * planned_gbq / given_gbq
        out["perfused"] = mird_dose_gy(given_gbq, mass_kg, v["lsf"], residual, energy)
        lung = lung_dose_gy(given_gbq * (1.0 - residual), v["lsf"], v["lung_mass_kg"], energy)
        out["lung"] = lung
        return out

    expected = {name: result.dose_gy(name) for name in ("perfused", "lung")}
    if target_dose_gy is not None:
        expected["activity_gbq"] = planned_gbq
    return ModelArrays(
        inputs=tuple(items),
        evaluate=evaluate,
        expected=expected,
        drivers_of="perfused",
        meaning=PLAN_MEANING if target_dose_gy is not None else DOSE_MEANING,
        shifted={"lung_cumulative": ("lung", inputs.prior_lung_dose_gy)},
    )

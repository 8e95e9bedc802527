"""Multi-territory treatment: several catheter positions planned together.

Each territory is planned by its own model with its own inputs
(:mod:`y90dose.models.treatment_input`: what a territory holds, what the patient's fields
shared by all are, and how they are checked); each territory's result is its model's own.

What the treatment adds (physics.md; docs/physics.md, "Multi-territory treatments"):

- lung:         D_L = sum_i C_i x A_i x (1 - R_i) x LSF_i / M_L   (each territory its own
                C, so mixed products are handled), cumulative = prior + D_L;
- whole liver:  D_WL = sum_i E_i / M_liver, E_i = C_i x A_i x (1 - R_i) x (1 - LSF_i)
                the energy territory i leaves in the liver (= its perfused dose x mass);
- whole normal liver: D_WN = sum_i E_N,i / (M_liver - sum M_T), where E_N,i is the
                normal-liver energy of a partition territory (D_N x M_N) and the whole
                perfused energy of a MIRD or BSA territory (they model no tumour apart:
                counted as normal liver, the cautious choice), M_T the partition tumours.

Staged treatments: territories may carry a ``treatment_date``; those on one date form a
stage (one treatment for the 30 Gy limit), stages run in date order and each starts from
the prior lung dose plus the lung dose of the stages before it. Lung limits are judged on
the treatment: a territory's own lung findings are implied by the treatment's (its lung
dose is at most its stage's) and stay in its own result only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter

from y90dose.checks import RELATIVE_TOLERANCE, lung_allowance_gy
from y90dose.devices import Product
from y90dose.errors import InputError
from y90dose.findings import Code, Finding, Severity, beside
from y90dose.lung import lung_dose_gy
from y90dose.models.common import PlanResult, Spheres
from y90dose.models.lsf_bound import lsf_bound_of
from y90dose.models.treatment_input import (
    VARIANTS,
    Territory,
    TerritoryModel,
    TreatmentInput,
    perfused_volume_ml,
)
from y90dose.settings import DEFAULT_SETTINGS, ClinicalSettings
from y90dose.spheres import embolic_load_findings
from y90dose.units import volume_ml_to_mass_kg

__all__ = [
    "AnyPlanResult",
    "TerritoryResult",
    "TreatmentFinding",
    "TreatmentInput",
    "TreatmentResult",
    "TreatmentStage",
    "plan_treatment",
    "result_of",
]

LUNG_CODES = frozenset(
    {
        Code.LUNG_DOSE_OVER_LIMIT,
        Code.LUNG_DOSE_CUMULATIVE_OVER_LIMIT,
        Code.LUNG_DOSE_NEAR_LIMIT,
        Code.LUNG_MASS_ASSUMED,
    }
)
"""Territory findings the treatment judges itself (on the summed lung dose)."""


# --- Results --------------------------------------------------------------------------------


class TreatmentFinding(Finding):
    """A finding of the treatment (``territory`` null) or of one territory."""

    territory: str | None = Field(
        None, description="the territory whose own finding this is; null: the treatment's"
    )


class TerritoryResult(BaseModel):
    """One territory's result, as its model computes it alone (with the treatment's lung
    mass and the prior lung dose its stage starts from)."""

    model_config = ConfigDict(frozen=True)

    name: str
    model: TerritoryModel
    treatment_date: date | None
    result: PlanResult
    lsf_bound_in_treatment: float | None = Field(
        description="this territory's LSF at which the treatment's lung dose would reach "
        "its limit, the other territories as planned; null when none below 1 does"
    )


class TreatmentStage(BaseModel):
    """The territories treated on one date and their lung dose."""

    model_config = ConfigDict(frozen=True)

    treatment_date: date | None
    territories: list[str]
    lung_gy: float = Field(description="this stage's lung dose (Gy)")
    prior_lung_dose_gy: float = Field(description="lung dose before this stage (Gy)")
    lung_cumulative_gy: float = Field(description="prior plus this stage (Gy)")


class TreatmentResult(BaseModel):
    """A multi-territory treatment: each territory's result and what they give together.

    ``doses_gy``: ``lung`` (all territories), ``lung_cumulative`` (with the prior lung
    dose) and, with the whole-liver volume, ``whole_liver`` (mean over the whole liver)
    and ``whole_normal_liver`` (over all non-tumoral liver). ``findings`` holds the
    treatment's findings (``territory`` null) and then each territory's own but its lung
    findings, which the treatment's imply.
    """

    model_config = ConfigDict(frozen=True)

    model: Literal["treatment"] = "treatment"
    direction: str = Field(description="plan, dose, or mixed when territories differ")
    territories: list[TerritoryResult] = Field(description="in input order")
    activity_gbq: float = Field(description="total activity to administer (GBq)")
    delivered_activity_gbq: float = Field(description="total leaving vials and tubing (GBq)")
    doses_gy: dict[str, float] = Field(description="treatment doses (Gy)")
    masses_kg: dict[str, float] = Field(description="masses (kg)")
    stages: list[TreatmentStage] = Field(description="treatment dates in order")
    spheres: dict[Product, Spheres] = Field(
        description="spheres by product: the territories' counts summed, mean activity per "
        "sphere, per mL of the territories' perfused volumes"
    )
    findings: list[TreatmentFinding]
    lung_mass_kg: float
    prior_lung_dose_gy: float
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def products(self) -> list[Product]:
        """The products used, in order of first use."""
        return list(dict.fromkeys(t.result.product for t in self.territories))

    def json_dict(self) -> dict[str, Any]:
        """The result as plain JSON types (what the CLI prints and the service returns)."""
        return self.model_dump(mode="json")


def _staged(territories: list[Territory]) -> list[tuple[date | None, list[int]]]:
    """(date, territory indices) per stage in date order; one stage when undated."""
    dates = sorted({t.treatment_date for t in territories if t.treatment_date is not None})
    if not dates:
        return [(None, list(range(len(territories))))]
    return [(d, [i for i, t in enumerate(territories) if t.treatment_date == d]) for d in dates]


def _territory_lung_gy(result: PlanResult, lung_mass_kg: float) -> float:
    """C_i x A_i x (1 - R_i) x LSF_i / M_L with the territory's own C."""
    return lung_dose_gy(
        result.delivered_activity_gbq, result.lsf, lung_mass_kg, result.constants.energy_j_per_gbq
    )


def _liver_energy_j(result: PlanResult) -> float:
    """E_i = C_i x A_i x (1 - R_i) x (1 - LSF_i): the energy a territory leaves in the liver."""
    return result.constants.energy_j_per_gbq * result.delivered_activity_gbq * (1.0 - result.lsf)


def _normal_energy_j(result: PlanResult) -> float:
    """A partition territory's normal-liver energy D_N x M_N; a MIRD or BSA territory's
    whole perfused energy (it models no tumour apart)."""
    if result.model == "partition":
        return result.dose_gy("normal") * result.mass_kg("normal")
    return _liver_energy_j(result)


def _compute(
    territory: Territory, index: int, prior_gy: float, settings: ClinicalSettings
) -> PlanResult:
    """Territory ``index`` planned by its model; a refusal of the model's computation (BSA
    with glass) names the territory's field, ``territories[2].inputs.product``."""
    inputs = territory.inputs
    if inputs.prior_lung_dose_gy != prior_gy:
        inputs = inputs.model_copy(update={"prior_lung_dose_gy": prior_gy})
    _, compute = VARIANTS[territory.model][territory.direction]
    try:
        return compute(inputs, settings)
    except InputError as exc:
        field = f"territories[{index}].inputs.{exc.field}"
        raise InputError(field, exc.value, exc.allowed) from None


def plan_treatment(
    inputs: TreatmentInput, settings: ClinicalSettings = DEFAULT_SETTINGS
) -> TreatmentResult:
    """Every territory's plan and the treatment's lung, whole-liver and normal-liver doses.

    Examples
    --------
    Two lobes by MIRD, 120 Gy each, 1000 and 500 mL at 1.03 g/mL, LSF 10 % and 6 %, glass,
    lungs 1 kg: A_1 = 120 x 1.03 / (50 x 0.9) = 2.7467 GBq, A_2 = 120 x 0.515 / (50 x 0.94)
    = 1.3149 GBq; lung 50 x (2.7467 x 0.1 + 1.3149 x 0.06) / 1 = 13.733 + 3.945 = 17.68 Gy.

    >>> t = TreatmentInput.model_validate({"territories": [
    ...     {"name": "right", "model": "mird",
    ...      "inputs": {"target_dose_gy": 120, "perfused_volume_ml": 1000, "lsf": 0.1}},
    ...     {"name": "left", "model": "mird",
    ...      "inputs": {"target_dose_gy": 120, "perfused_volume_ml": 500, "lsf": 0.06}}]})
    >>> r = plan_treatment(t)
    >>> round(r.activity_gbq, 4), round(r.doses_gy["lung"], 2)
    (4.0616, 17.68)
    """
    lung_mass_kg = inputs.lung_mass_kg
    results: list[PlanResult | None] = [None] * len(inputs.territories)
    stages: list[TreatmentStage] = []
    prior_gy = inputs.prior_lung_dose_gy
    for when, members in _staged(inputs.territories):
        for index in members:
            results[index] = _compute(inputs.territories[index], index, prior_gy, settings)
        stage_lung = sum(_territory_lung_gy(r, lung_mass_kg) for r in _of(results, members))
        stages.append(
            TreatmentStage(
                treatment_date=when,
                territories=[inputs.territories[i].name for i in members],
                lung_gy=stage_lung,
                prior_lung_dose_gy=prior_gy,
                lung_cumulative_gy=prior_gy + stage_lung,
            )
        )
        prior_gy += stage_lung
    done = _of(results, range(len(results)))
    lungs = [_territory_lung_gy(r, lung_mass_kg) for r in done]
    lung_gy = sum(lungs)
    doses: dict[str, float] = {
        "lung": lung_gy,
        "lung_cumulative": inputs.prior_lung_dose_gy + lung_gy,
    }
    masses: dict[str, float] = {
        "perfused": sum(r.mass_kg("perfused") for r in done),
        "lung": lung_mass_kg,
    }
    if inputs.liver_volume_ml is not None:
        liver_kg = volume_ml_to_mass_kg(inputs.liver_volume_ml, inputs.density_g_ml)
        tumor_kg = sum(sum(r.tumor_masses_kg()) for r in done if r.model == "partition")
        masses["whole_liver"] = liver_kg
        masses["whole_normal_liver"] = liver_kg - tumor_kg
        doses["whole_liver"] = sum(_liver_energy_j(r) for r in done) / liver_kg
        doses["whole_normal_liver"] = sum(_normal_energy_j(r) for r in done) / (liver_kg - tumor_kg)
    stage_of = {i: s for s, (_, members) in enumerate(_staged(inputs.territories)) for i in members}
    territories = []
    for index, (territory, result) in enumerate(zip(inputs.territories, done, strict=True)):
        others_in_stage = stages[stage_of[index]].lung_gy - lungs[index]
        allowance = min(
            settings.lung_dose_limit_gy - others_in_stage,
            lung_allowance_gy(inputs.prior_lung_dose_gy + lung_gy - lungs[index], settings),
        )
        territories.append(
            TerritoryResult(
                name=territory.name,
                model=territory.model,
                treatment_date=territory.treatment_date,
                result=result,
                lsf_bound_in_treatment=lsf_bound_of(result, allowance),
            )
        )
    spheres = _spheres_by_product(done, [perfused_volume_ml(t.inputs) for t in inputs.territories])
    findings = [
        *_lung_findings(inputs, stages, lungs, settings),
        *_liver_findings(inputs, done, doses, settings),
        *_embolic_total(spheres, done),
    ]
    treatment_findings = [TreatmentFinding(**f.model_dump()) for f in findings]
    for territory, result in zip(inputs.territories, done, strict=True):
        treatment_findings += [
            TreatmentFinding(**f.model_dump(), territory=territory.name)
            for f in result.findings
            if f.code not in LUNG_CODES
        ]
    directions = {r.direction for r in done}
    return TreatmentResult(
        direction=directions.pop() if len(directions) == 1 else "mixed",
        territories=territories,
        activity_gbq=sum(r.activity_gbq for r in done),
        delivered_activity_gbq=sum(r.delivered_activity_gbq for r in done),
        doses_gy=doses,
        masses_kg=masses,
        stages=stages,
        spheres=spheres,
        findings=treatment_findings,
        lung_mass_kg=lung_mass_kg,
        prior_lung_dose_gy=inputs.prior_lung_dose_gy,
        details={"staged": len(stages) > 1},
    )


def _of(results: Sequence[PlanResult | None], indices: Sequence[int] | range) -> list[PlanResult]:
    out = [results[i] for i in indices]
    assert all(r is not None for r in out)  # every stage computed before it is read
    return [r for r in out if r is not None]


def _spheres_by_product(
    results: list[PlanResult], perfused_ml: list[float]
) -> dict[Product, Spheres]:
    """Each product's spheres summed over its territories, per mL of their perfused volumes.

    The count's standard deviations add linearly: territories drawn from one resin vial
    share its sphere count's error (the larger, cautious sum)."""
    totals: dict[Product, Spheres] = {}
    for product in dict.fromkeys(r.product for r in results):
        mine = [i for i, r in enumerate(results) if r.product is product]
        spheres = [s for i in mine if (s := results[i].spheres) is not None]
        count = sum(s.count for s in spheres)
        sds = [s.count_sd for s in spheres]
        volume_ml = sum(perfused_ml[i] for i in mine)
        totals[product] = Spheres(
            count=count,
            count_sd=None if None in sds else sum(sd for sd in sds if sd is not None),
            activity_per_sphere_bq=sum(results[i].delivered_activity_gbq for i in mine)
            * 1e9
            / count,
            per_ml_perfused=count / volume_ml,
            time_since_calibration_h=(
                times.pop()
                if len(times := {s.time_since_calibration_h for s in spheres}) == 1
                else None
            ),
            source=spheres[0].source,
        )
    return totals


def _names(names: Sequence[str], lungs: Mapping[str, float]) -> str:
    return " + ".join(f"{name} {lungs[name]:.1f}" for name in names)


def _lung_findings(
    inputs: TreatmentInput,
    stages: list[TreatmentStage],
    lungs: list[float],
    settings: ClinicalSettings,
) -> list[Finding]:
    """The summed lung dose against the limits: per stage (one treatment) and cumulative."""
    found: list[Finding] = []
    by_name = {t.name: lung for t, lung in zip(inputs.territories, lungs, strict=True)}
    limit = settings.lung_dose_limit_gy
    cumulative_limit = settings.lung_dose_cumulative_limit_gy
    for stage in stages:
        if stage.lung_gy > limit * (1.0 + RELATIVE_TOLERANCE):
            alone = max(by_name[name] for name in stage.territories)
            on = f" on {stage.treatment_date}" if stage.treatment_date else ""
            found.append(
                Finding(
                    severity=Severity.BLOCK,
                    code=Code.LUNG_DOSE_OVER_LIMIT,
                    message=f"lung dose of the treatment{on} {beside(stage.lung_gy, limit)} Gy "
                    f"({_names(stage.territories, by_name)} Gy) exceeds the "
                    f"per-treatment limit of {limit:g} Gy"
                    + (
                        "; no territory exceeds it alone: the sum does"
                        if alone <= limit * (1.0 + RELATIVE_TOLERANCE)
                        else ""
                    ),
                )
            )
    final = stages[-1].lung_cumulative_gy
    if final > cumulative_limit * (1.0 + RELATIVE_TOLERANCE):
        found.append(
            Finding(
                severity=Severity.BLOCK,
                code=Code.LUNG_DOSE_CUMULATIVE_OVER_LIMIT,
                message=f"cumulative lung dose {beside(final, cumulative_limit)} Gy (prior "
                f"{inputs.prior_lung_dose_gy:g} Gy + this treatment "
                f"{final - inputs.prior_lung_dose_gy:.1f} Gy) exceeds the limit of "
                f"{cumulative_limit:g} Gy",
            )
        )
    if not found:
        fraction = settings.lung_dose_warning_fraction
        highest = max(stage.lung_gy for stage in stages)
        what = "largest lung dose of one date" if len(stages) > 1 else "lung dose"
        if highest > fraction * limit or final > fraction * cumulative_limit:
            found.append(
                Finding(
                    severity=Severity.WARNING,
                    code=Code.LUNG_DOSE_NEAR_LIMIT,
                    message=f"{what} {highest:.1f} Gy (cumulative "
                    f"{final:.1f} Gy) is above {fraction:.0%} of its limit ({limit:g} Gy per "
                    f"treatment, {cumulative_limit:g} Gy cumulative)",
                )
            )
    shunting = any(t.inputs.lsf > 0 for t in inputs.territories)
    if shunting and "lung_mass_kg" not in inputs.model_fields_set:
        found.append(
            Finding(
                severity=Severity.INFO,
                code=Code.LUNG_MASS_ASSUMED,
                message=f"lung mass assumed {inputs.lung_mass_kg:g} kg; a CT-derived lung mass "
                "gives a better lung dose",
            )
        )
    return found


def _liver_findings(
    inputs: TreatmentInput,
    results: list[PlanResult],
    doses: Mapping[str, float],
    settings: ClinicalSettings,
) -> list[Finding]:
    """The whole normal liver against EANM 2022's glass limit, or why it is not checked."""
    if "whole_normal_liver" not in doses:
        return [
            Finding(
                severity=Severity.INFO,
                code=Code.WHOLE_LIVER_VOLUME_NOT_GIVEN,
                message="no liver_volume_ml: the whole-liver and whole normal-liver doses are "
                "not computed and the whole normal liver is not checked",
            )
        ]
    normal_gy = doses["whole_normal_liver"]
    limit = settings.glass_whole_normal_liver_max_gy
    if any(r.product is not Product.GLASS for r in results):
        return [
            Finding(
                severity=Severity.INFO,
                code=Code.WHOLE_NORMAL_LIVER_NOT_CHECKED,
                message=f"whole normal-liver dose {normal_gy:.1f} Gy not checked: EANM 2022 "
                f"gives its {limit:g} Gy limit for glass (Table 2), and resin is used here",
            )
        ]
    if normal_gy > limit * (1.0 + RELATIVE_TOLERANCE):
        return [
            Finding(
                severity=Severity.WARNING,
                code=Code.WHOLE_NORMAL_LIVER_DOSE_HIGH,
                message=f"whole normal-liver dose {beside(normal_gy, limit)} Gy exceeds "
                f"{limit:g} Gy (glass, EANM 2022 Table 2)",
            )
        ]
    return []


def _embolic_total(spheres: Mapping[Product, Spheres], results: list[PlanResult]) -> list[Finding]:
    """The resin embolic load of the whole treatment when several territories use resin."""
    resin = [r for r in results if r.product is Product.RESIN]
    if len(resin) < 2:
        return []
    return embolic_load_findings(Product.RESIN, spheres[Product.RESIN])


# --- Stored results -----------------------------------------------------------------------


def _result_kind(value: Any) -> str:
    model = value.get("model") if isinstance(value, Mapping) else getattr(value, "model", None)
    return "treatment" if model == "treatment" else "plan"


AnyPlanResult = Annotated[
    Annotated[PlanResult, Tag("plan")] | Annotated[TreatmentResult, Tag("treatment")],
    Discriminator(_result_kind),
]
"""A single-model plan's result or a treatment's, told apart by ``model``."""

_ANY_RESULT: TypeAdapter[PlanResult | TreatmentResult] = TypeAdapter(AnyPlanResult)


def result_of(data: Mapping[str, Any]) -> PlanResult | TreatmentResult:
    """A stored result (JSON types) as its model: a treatment's when ``model`` says so."""
    return _ANY_RESULT.validate_python(data)

"""The input of a multi-territory treatment and its validation.

Each territory (a lobe, a segment, a vessel's territory) is planned by its own model
(``mird``, ``partition`` or ``bsa``) with its own inputs: its MAA injection's ``lsf``, its
product, residual, delivery and target or activity, validated by that model's schema. What
belongs to the patient is given once, at the top level, and refused inside a territory:
``lung_mass_kg``, ``prior_lung_dose_gy``, ``density_g_ml`` and the whole-liver
``liver_volume_ml`` (given to every BSA territory, which needs it, and to MIRD and
partition territories that name their segments, to check them). Every bad field is
reported at once, named as ``territories[1].inputs.lsf``. Territories carry a
``treatment_date`` all or none (staged treatments), have different names, and their
perfused volumes fit in the whole liver.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails

from y90dose.checks import RELATIVE_TOLERANCE
from y90dose.models.bsa import BsaPlanInput, plan_bsa
from y90dose.models.common import (
    MIN_VOLUME_ML,
    SEGMENT_DELIVERIES,
    PlanOptions,
    PlanResult,
)
from y90dose.models.mird import MirdDoseInput, MirdPlanInput, dose_mird, plan_mird
from y90dose.models.partition import (
    PartitionDoseInput,
    PartitionPlanInput,
    dose_partition,
    plan_partition,
)
from y90dose.settings import ClinicalSettings
from y90dose.validation import SAYS_SOMETHING, says_something

MAX_TERRITORIES = 10
"""Most territories one treatment takes (y90dose policy: bilobar and multi-vessel
treatments use 2-4 catheter positions; more is a data-entry error, not a treatment)."""
TERRITORY_NAME_MAX_CHARS = 100
SHARED_FIELDS = ("lung_mass_kg", "prior_lung_dose_gy", "density_g_ml", "liver_volume_ml")
"""Fields of the patient, given once at the top level and refused inside a territory."""


class TerritoryModel(StrEnum):
    """The planning model of one territory."""

    MIRD = "mird"
    PARTITION = "partition"
    BSA = "bsa"


TerritoryInputs = (
    MirdPlanInput | MirdDoseInput | PartitionPlanInput | PartitionDoseInput | BsaPlanInput
)
Compute = Callable[[Any, ClinicalSettings], PlanResult]

VARIANTS: dict[TerritoryModel, dict[str, tuple[type[PlanOptions], Compute]]] = {
    TerritoryModel.MIRD: {
        "plan": (MirdPlanInput, plan_mird),
        "dose": (MirdDoseInput, dose_mird),
    },
    TerritoryModel.PARTITION: {
        "plan": (PartitionPlanInput, plan_partition),
        "dose": (PartitionDoseInput, dose_partition),
    },
    TerritoryModel.BSA: {"plan": (BsaPlanInput, plan_bsa)},
}
"""Each model's input schema and function by direction: ``activity_gbq`` asks for doses."""
TARGET_FIELDS: dict[TerritoryModel, tuple[str, ...]] = {
    TerritoryModel.MIRD: ("target_dose_gy",),
    TerritoryModel.PARTITION: ("normal_dose_gy", "tumor_dose_gy"),
    TerritoryModel.BSA: (),
}


def _one_line_name(value: str) -> str:
    if not value.isprintable():
        raise ValueError("printable characters on one line (no control characters)")
    if not says_something(value):
        raise ValueError(SAYS_SOMETHING)
    return value


def _date_as_text(value: Any) -> Any:
    if isinstance(value, str | date):
        return value
    raise ValueError("a date as text, YYYY-MM-DD (a number is not read as a date)")


TerritoryName = Annotated[
    str,
    Field(min_length=1, max_length=TERRITORY_NAME_MAX_CHARS),
    AfterValidator(_one_line_name),
]
DateText = Annotated[date, BeforeValidator(_date_as_text)]


class _TerritoryHead(BaseModel):
    """A territory's own fields, checked before its inputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: TerritoryName
    model: TerritoryModel
    treatment_date: DateText | None = None
    inputs: dict[str, Any]


class Territory(BaseModel):
    """One territory: its name, model, date (staged treatments) and validated inputs.

    ``inputs`` holds the shared fields the treatment gave it; they are left out when the
    territory is written as JSON, so that the written treatment validates again.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="the territory's name (right lobe, segment IV, ...)")
    model: TerritoryModel = Field(description="mird, partition or bsa")
    treatment_date: date | None = Field(
        None,
        description="date of this territory's treatment (staged treatments); "
        "all territories or none",
    )
    inputs: TerritoryInputs = Field(description="the model's own inputs (lsf, product, ...)")

    @field_serializer("inputs")
    def _without_shared(self, inputs: TerritoryInputs) -> dict[str, Any]:
        dumped: dict[str, Any] = inputs.model_dump(mode="json")
        for name in SHARED_FIELDS:
            dumped.pop(name, None)
        return dumped

    @property
    def direction(self) -> str:
        """``plan`` (a target dose) or ``dose`` (an activity)."""
        return "dose" if isinstance(self.inputs, MirdDoseInput | PartitionDoseInput) else "plan"


def _same_as(model: type[BaseModel], name: str) -> Any:
    """A copy of ``model``'s field ``name`` (default, limits, description): one definition."""
    return copy.copy(model.model_fields[name])


def _error(loc: Sequence[str | int], value: Any, allowed: str) -> InitErrorDetails:
    return InitErrorDetails(
        type="value_error", loc=tuple(loc), input=value, ctx={"error": ValueError(allowed)}
    )


def _nested(exc: ValidationError, prefix: Sequence[str]) -> list[InitErrorDetails]:
    """``exc``'s errors with their locations under ``prefix``."""
    out = []
    for error in exc.errors():
        detail = InitErrorDetails(
            type=error["type"], loc=(*prefix, *error["loc"]), input=error.get("input")
        )
        if "ctx" in error:
            detail["ctx"] = error["ctx"]
        out.append(detail)
    return out


TREATMENT_EXAMPLE: dict[str, Any] = {
    "territories": [
        {
            "name": "right lobe",
            "model": "mird",
            "inputs": {
                "target_dose_gy": 120,
                "perfused_volume_ml": 1000,
                "lsf": 0.1,
                "delivery": "lobar",
            },
        },
        {
            "name": "left lobe",
            "model": "mird",
            "inputs": {
                "target_dose_gy": 120,
                "perfused_volume_ml": 500,
                "lsf": 0.06,
                "delivery": "lobar",
            },
        },
    ],
    "lung_mass_kg": 0.9,
    "liver_volume_ml": 1600,
}
"""Two lobar territories: the schema's example (the API's and the plan body's)."""


class TreatmentInput(BaseModel):
    """A multi-territory treatment: territories and the fields of the patient they share.

    Validate with ``TreatmentInput.model_validate(body)``: every territory's inputs are
    validated by its model's schema (``territories[1].inputs.lsf`` names a bad field).
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [TREATMENT_EXAMPLE]},
    )

    territories: list[Territory] = Field(
        min_length=1,
        max_length=MAX_TERRITORIES,
        description="the territories, each {name, model, inputs[, treatment_date]}",
    )
    lung_mass_kg: float = _same_as(PlanOptions, "lung_mass_kg")
    prior_lung_dose_gy: float = _same_as(PlanOptions, "prior_lung_dose_gy")
    density_g_ml: float = _same_as(PlanOptions, "density_g_ml")
    liver_volume_ml: float | None = Field(
        None,
        ge=MIN_VOLUME_ML,
        le=10000.0,
        description="whole liver volume incl. tumour (mL), when known: whole-liver and "
        "whole normal-liver doses; required with a bsa territory",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _territories_validated(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if isinstance(data, dict) and isinstance(data.get("territories"), list):
            data = {**data, "territories": _validated_territories(data)}
        return handler(data)

    def perfused_volume_ml(self) -> float:
        """The territories' perfused volumes together (mL)."""
        return sum(perfused_volume_ml(t.inputs) for t in self.territories)


def perfused_volume_ml(inputs: TerritoryInputs) -> float:
    """A territory's perfused volume (mL): MIRD's, partition's tumours plus normal liver,
    BSA's treated volume (the whole liver when not given)."""
    if isinstance(inputs, BsaPlanInput):
        return inputs.treated_volume_ml or inputs.liver_volume_ml
    if isinstance(inputs, PartitionPlanInput | PartitionDoseInput):
        return inputs.perfused_volume_ml()
    return inputs.perfused_volume_ml


def _shared_given(data: Mapping[str, Any]) -> dict[str, Any]:
    """The shared fields given at the top level that are valid (each checked alone, so a
    bad one is reported once, by the treatment, not once per territory)."""
    given: dict[str, Any] = {}
    for name in SHARED_FIELDS:
        if data.get(name) is None:
            continue
        try:
            _SharedCheck.model_validate({name: data[name]})
        except ValidationError:
            continue  # the treatment's own validation reports it
        given[name] = data[name]
    return given


class _SharedCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lung_mass_kg: float = _same_as(PlanOptions, "lung_mass_kg")
    prior_lung_dose_gy: float = _same_as(PlanOptions, "prior_lung_dose_gy")
    density_g_ml: float = _same_as(PlanOptions, "density_g_ml")
    liver_volume_ml: float | None = _same_as(TreatmentInput, "liver_volume_ml")


def _uses_whole_liver(model: TerritoryModel, inputs: Mapping[str, Any]) -> bool:
    """Whether a territory's model uses the whole-liver volume: BSA always, MIRD and
    partition to check named segments."""
    if model is TerritoryModel.BSA:
        return True
    delivery = inputs.get("delivery")
    return inputs.get("segments") is not None and delivery in {d.value for d in SEGMENT_DELIVERIES}


def _validated_territories(data: Mapping[str, Any]) -> list[Territory]:
    """Every territory of ``data`` validated by its model, or one ValidationError naming
    each bad field (``territories[1].inputs.lsf``)."""
    raw_list: list[Any] = data["territories"]
    shared = _shared_given(data)
    errors: list[InitErrorDetails] = []
    if not 1 <= len(raw_list) <= MAX_TERRITORIES:
        errors.append(
            _error(
                ("territories",),
                f"({len(raw_list)} territories)",
                f"1 to {MAX_TERRITORIES} territories, each {{name, model, inputs}}",
            )
        )
        raw_list = []
    territories: list[Territory] = []
    first_named: dict[str, int] = {}
    for index, raw in enumerate(raw_list):
        where = f"territories[{index}]"
        if isinstance(raw, BaseModel):
            raw = raw.model_dump()
        if not isinstance(raw, dict):
            errors.append(_error((where,), raw, "an object with name, model and inputs"))
            continue
        try:
            head = _TerritoryHead.model_validate(raw)
        except ValidationError as exc:
            errors += _nested(exc, (where,))
            continue
        key = head.name.strip().casefold()
        if key in first_named:
            errors.append(
                _error(
                    (where, "name"),
                    head.name,
                    f"a name no other territory has (territories[{first_named[key]}] is "
                    f"also {raw_list[first_named[key]]['name']!r})",
                )
            )
        first_named.setdefault(key, index)
        inside = [name for name in SHARED_FIELDS if name in head.inputs]
        for name in inside:
            errors.append(
                _error(
                    (where, "inputs", name),
                    head.inputs[name],
                    f"no {name} inside a territory: it belongs to the patient the "
                    "territories share; give it once, at the top level",
                )
            )
        if inside:
            continue
        variants = VARIANTS[head.model]
        direction = "dose" if "activity_gbq" in head.inputs else "plan"
        targets = [f for f in TARGET_FIELDS[head.model] if head.inputs.get(f) is not None]
        if direction == "dose" and (targets or "dose" not in variants):
            allowed = (
                f"either a target dose ({' or '.join(TARGET_FIELDS[head.model])}: plan) or "
                f"activity_gbq (dose), not both; {', '.join(targets)} was also given"
                if "dose" in variants
                else f"no activity_gbq: the {head.model.value} method plans an activity"
            )
            errors.append(
                _error((where, "inputs", "activity_gbq"), head.inputs["activity_gbq"], allowed)
            )
            continue
        schema, _ = variants[direction]
        merged = {**head.inputs}
        for name, value in shared.items():
            if name != "liver_volume_ml" or _uses_whole_liver(head.model, head.inputs):
                merged[name] = value
        if head.model is TerritoryModel.BSA and "liver_volume_ml" not in shared:
            if data.get("liver_volume_ml") is None:
                errors.append(
                    _error(
                        ("liver_volume_ml",),
                        None,
                        f"the whole liver volume (mL): {where} ({head.name}) is planned by "
                        "the bsa method, which needs it",
                    )
                )
            continue
        try:
            inputs = schema.model_validate(merged)
        except ValidationError as exc:
            errors += _nested(exc, (where, "inputs"))
            continue
        territories.append(
            Territory(
                name=head.name,
                model=head.model,
                treatment_date=head.treatment_date,
                inputs=inputs,
            )
        )
    if not errors and territories:
        errors += _treatment_errors(territories, shared)
    if errors:  # with the top-level fields' own errors, so that all are reported at once
        top = {name: value for name, value in data.items() if name != "territories"}
        try:
            _SharedCheck.model_validate(top)
        except ValidationError as exc:
            errors = _nested(exc, ()) + errors
        raise ValidationError.from_exception_data("TreatmentInput", errors)
    return territories


def _treatment_errors(
    territories: list[Territory], shared: Mapping[str, Any]
) -> list[InitErrorDetails]:
    """Rules across territories: dates for all or none, and the perfused volumes within
    the whole liver."""
    errors: list[InitErrorDetails] = []
    dated = [i for i, t in enumerate(territories) if t.treatment_date is not None]
    if dated and len(dated) != len(territories):
        missing = next(i for i, t in enumerate(territories) if t.treatment_date is None)
        errors.append(
            _error(
                (f"territories[{missing}]", "treatment_date"),
                None,
                f"a treatment_date for every territory or for none (territories[{dated[0]}] "
                f"has {territories[dated[0]].treatment_date})",
            )
        )
    liver_ml = shared.get("liver_volume_ml")
    if liver_ml is not None:
        perfused = [perfused_volume_ml(t.inputs) for t in territories]
        if sum(perfused) > float(liver_ml) * (1.0 + RELATIVE_TOLERANCE):
            shown = " + ".join(f"{v:g}" for v in perfused)
            errors.append(
                _error(
                    ("liver_volume_ml",),
                    liver_ml,
                    f"at least the territories' perfused volumes together ({shown} = "
                    f"{sum(perfused):g} mL): territories do not overlap (a bsa territory "
                    "without treated_volume_ml is the whole liver)",
                )
            )
    return errors

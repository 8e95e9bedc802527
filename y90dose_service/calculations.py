"""Which core function answers which calculation, chosen from the request body.

MIRD and partition have two directions behind one endpoint: a body with
``activity_gbq`` asks for the doses that activity gives (``dose_mird`` /
``dose_partition``); a body with a target dose (``target_dose_gy``, or
``normal_dose_gy`` / ``tumor_dose_gy``) asks for the activity (``plan_mird`` /
``plan_partition``). Giving both is refused. The inputs and results are the core's own
pydantic models, so the service and the CLI share one set of schemas and rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from y90dose.models.bsa import BsaPlanInput, plan_bsa
from y90dose.models.common import PlanResult
from y90dose.models.mird import MirdDoseInput, MirdPlanInput, dose_mird, plan_mird
from y90dose.models.partition import (
    PartitionDoseInput,
    PartitionPlanInput,
    dose_partition,
    plan_partition,
)
from y90dose.models.treatment import TreatmentInput, TreatmentResult, plan_treatment
from y90dose.settings import ClinicalSettings
from y90dose_service.problems import InvalidInputError, errors_of, field_error

PLAN_MODELS = ("mird", "partition", "bsa")
"""Single-model planning models (the web form's); a stored plan may also be a
``treatment`` of several territories (:func:`run_treatment`)."""


@dataclass(frozen=True)
class Variant:
    """One direction of a calculation: its input model and the core function."""

    direction: str
    input_model: type[BaseModel]
    compute: Callable[[Any, ClinicalSettings], PlanResult]


@dataclass(frozen=True)
class PlanningCalculation:
    """A planning model's variants and the body fields that select them."""

    name: str
    plan: Variant
    dose: Variant | None
    plan_fields: tuple[str, ...]

    def select(self, body: dict[str, Any], prefix: str = "") -> Variant:
        """The variant ``body`` asks for (InvalidInputError when it asks for both)."""
        if self.dose is None or "activity_gbq" not in body:
            return self.plan
        given = [name for name in self.plan_fields if body.get(name) is not None]
        if given:
            field = f"{prefix}.activity_gbq" if prefix else "activity_gbq"
            raise InvalidInputError(
                [
                    field_error(
                        field,
                        body["activity_gbq"],
                        f"either a target dose ({' or '.join(self.plan_fields)}: plan) or "
                        f"activity_gbq (dose), not both; {', '.join(given)} was also given",
                    )
                ]
            )
        return self.dose

    def run(
        self, body: Any, settings: ClinicalSettings, prefix: str = ""
    ) -> tuple[BaseModel, PlanResult]:
        """Validate ``body`` against the selected input model and compute the result,
        checked against the site's ``settings``."""
        if not isinstance(body, dict):
            raise InvalidInputError(
                [field_error(prefix or "body", body, f"a JSON object of {self.name} inputs")]
            )
        variant = self.select(body, prefix)
        inputs = validate(variant.input_model, body, prefix)
        return inputs, variant.compute(inputs, settings)


def validate(model: type[BaseModel], data: Any, prefix: str = "") -> Any:
    """``model.model_validate(data)``; every bad field reported at once."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(errors_of(exc, prefix)) from None


PLANNING: dict[str, PlanningCalculation] = {
    "mird": PlanningCalculation(
        name="mird",
        plan=Variant("plan", MirdPlanInput, plan_mird),
        dose=Variant("dose", MirdDoseInput, dose_mird),
        plan_fields=("target_dose_gy",),
    ),
    "partition": PlanningCalculation(
        name="partition",
        plan=Variant("plan", PartitionPlanInput, plan_partition),
        dose=Variant("dose", PartitionDoseInput, dose_partition),
        plan_fields=("normal_dose_gy", "tumor_dose_gy"),
    ),
    "bsa": PlanningCalculation(
        name="bsa",
        plan=Variant("plan", BsaPlanInput, plan_bsa),
        dose=None,
        plan_fields=(),
    ),
}


def run_treatment(
    body: Any, settings: ClinicalSettings, prefix: str = ""
) -> tuple[TreatmentInput, TreatmentResult]:
    """Validate a multi-territory treatment (every bad field at once, named as
    ``territories[1].inputs.lsf``) and plan it with the site's ``settings``."""
    if not isinstance(body, dict):
        raise InvalidInputError(
            [field_error(prefix or "body", body, "a JSON object of treatment inputs")]
        )
    inputs = validate(TreatmentInput, body, prefix)
    return inputs, plan_treatment(inputs, settings)

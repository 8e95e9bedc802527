"""Plan forms generated from the core's input models, and form data turned into API bodies.

The pages restate no rule: a field's label, unit and help come from the input model
(``perfused_volume_ml`` -> "perfused volume", mL, its description); values go to the
API's schemas as typed (``PlanCreate``, ``RevisionCreate``), and the messages shown are
the API's own. No limit is copied into the page (no HTML ``min``/``max``).
"""

from __future__ import annotations

import enum
import itertools
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from y90dose.delivery import Delivery
from y90dose.devices import Product
from y90dose.models.bsa import BsaPlanInput
from y90dose.models.mird import MirdDoseInput, MirdPlanInput
from y90dose.models.partition import PartitionDoseInput, PartitionPlanInput
from y90dose.uncertainty.inputs import UncertaintyOptionsWithTn
from y90dose.units import field_unit
from y90dose_service.calculations import PLAN_MODELS
from y90dose_service.problems import sentence

MODEL_INPUTS: dict[str, tuple[type[BaseModel], ...]] = {
    "mird": (MirdPlanInput, MirdDoseInput),
    "partition": (PartitionPlanInput, PartitionDoseInput),
    "bsa": (BsaPlanInput,),
}
"""Each planning model's input models: plan (a target dose) first, then dose (an activity)."""
MODEL_TITLES = {
    "mird": "MIRD (single compartment)",
    "partition": "Partition (tumours and normal liver)",
    "bsa": "BSA (resin)",
    "treatment": "Treatment (several territories)",
}
TOP_LEVEL = ("product", "delivery")
"""Input fields the plan states once, at the top (PlanCreate), not among the inputs."""
NOT_IN_FORM = ("tumor_to_normal_total_ratio",)
"""Inputs the form does not offer (the API and the CLI take them): the Kao-form ratios
would need a second column in the tumour table, which takes the TN ratios."""
TUMOR_FIELDS = ("tumor_volume_ml", "tn_ratio")
"""Partition's paired lists, shown as one row per tumour."""
ONE_OF = {"target_dose_gy", "activity_gbq", "normal_dose_gy", "tumor_dose_gy"}
"""A target dose plans an activity; an activity gives the doses: give one of these."""
UNCERTAINTY = "uncertainty"
"""The group of the uncertainty options (the switch, the input SDs, the draws and seed):
the fields of :class:`~y90dose.uncertainty.inputs.UncertaintyOptionsWithTn`, shown
together and folded away until one is used."""


@dataclass(frozen=True)
class FormField:
    """One input of a plan form."""

    name: str
    label: str
    unit: str
    help: str
    required: bool
    kind: str  # "number", "list" (one value per tumour), "multi" (checkboxes), "choice",
    # "switch" (a yes/no checkbox)
    choices: tuple[str, ...] = ()
    default: str = ""
    group: str = ""  # "" or UNCERTAINTY
    primary: bool = False  # required, or one of the target doses and the activity

    def in_use(self, values: Mapping[str, Any], errors: Mapping[str, Any]) -> bool:
        """Whether the form gives this field a value of its own or shows an error at it
        (a folded group with such a field is shown open)."""
        if errors.get(self.name):
            return True
        value = values.get(self.name)
        if isinstance(value, list):
            return any(str(v).strip() for v in value)
        text = "" if value is None else str(value).strip()
        if self.kind == "switch":
            return text.lower() in ("true", "on")
        return text not in ("", self.default)


def _choices(annotation: Any) -> tuple[str, ...]:
    candidates = [annotation, *typing.get_args(annotation)]
    candidates += [inner for c in candidates for inner in typing.get_args(c)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return tuple(str(m.value) for m in candidate)
    return ()


def _is_list(annotation: Any) -> bool:
    return any(typing.get_origin(c) is list for c in (annotation, *typing.get_args(annotation)))


def form_field(name: str, info: FieldInfo, required: bool) -> FormField:
    """One schema field as a form field: label, unit and help from the schema."""
    choices = _choices(info.annotation)
    kind = "number"
    if info.annotation is bool:
        kind = "switch"
    elif choices:
        kind = "multi" if _is_list(info.annotation) else "choice"
    elif _is_list(info.annotation):
        kind = "list"
    default = info.default
    shown_default = (
        ""
        if default is None or info.is_required() or callable(default) or kind == "switch"
        else str(getattr(default, "value", default))
    )
    return FormField(
        name=name,
        label=name.replace("_", " "),
        unit=field_unit(name),
        help=(info.description or "")
        + (" Give one of the target doses or the activity." if name in ONE_OF else ""),
        required=required and name not in ONE_OF,
        kind=kind,
        choices=choices,
        default=shown_default,
        group=UNCERTAINTY if name in UncertaintyOptionsWithTn.model_fields else "",
        primary=required or name in ONE_OF,
    )


def in_use(fields: list[FormField], values: Mapping[str, Any], errors: Mapping[str, Any]) -> bool:
    """Whether any of ``fields`` is in use (:meth:`FormField.in_use`)."""
    return any(f.in_use(values, errors) for f in fields)


def model_form(model: str) -> list[FormField]:
    """The fields of ``model``'s inputs (union of its plan and dose inputs), required first."""
    seen: dict[str, FormField] = {}
    variants = MODEL_INPUTS[model]
    for schema in variants:
        for name, info in schema.model_fields.items():
            if name in TOP_LEVEL or name in NOT_IN_FORM or name in seen:
                continue
            required = all(
                name in v.model_fields and v.model_fields[name].is_required() for v in variants
            )
            seen[name] = form_field(name, info, required)
    fields = list(seen.values())
    return sorted(fields, key=lambda f: (f.name not in ONE_OF, not f.required))


def form_inputs(model: str, form: Any, fields: list[FormField] | None = None) -> dict[str, Any]:
    """The model inputs a submitted form holds: blank fields are left out (the model's
    default applies), values go as typed (the schema parses and judges them). ``fields``:
    the fields to read (default: all of ``model``'s)."""
    inputs: dict[str, Any] = {}
    for field in model_form(model) if fields is None else fields:
        if field.kind == "multi":
            values = [v for v in form.getlist(field.name) if v.strip()]
            if values:
                inputs[field.name] = values
        elif field.kind == "list":
            continue
        else:
            value = (form.get(field.name) or "").strip()
            if value:
                inputs[field.name] = typed(value) if field.kind == "number" else value
    if model == "partition":
        # every row counts, also one with a blank cell (refused by the schema, never
        # dropped: a tumour left out would raise every other dose)
        volumes, ratios = form.getlist("tumor_volume_ml"), form.getlist("tn_ratio")
        rows = list(itertools.zip_longest(volumes, ratios, fillvalue=""))
        rows = [(v.strip(), t.strip()) for v, t in rows if v.strip() or t.strip()]
        inputs["tumor_volume_ml"] = [typed(v) for v, _ in rows]
        inputs["tn_ratio"] = [typed(t) for _, t in rows]
    return inputs


def typed(value: str) -> Any:
    """A number typed in a form as a JSON number (``"120"`` -> 120.0), so that messages
    show it as the API shows a number; anything else goes on as text, to be refused by
    the schema with the text quoted."""
    try:
        return float(value)
    except ValueError:
        return value


def form_values(inputs: dict[str, Any]) -> dict[str, Any]:
    """Stored inputs as the values a form shows (for a revision)."""
    return {
        name: value if isinstance(value, list) else ("" if value is None else str(value))
        for name, value in inputs.items()
    }


def field_of(error_field: str) -> str:
    """The form field an API error names: ``inputs.tn_ratio.1`` -> ``tn_ratio``."""
    parts = error_field.split(".")
    if parts[0] == "inputs" and len(parts) > 1:
        return parts[1]
    return parts[0]


def errors_by_field(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The API's field errors, in its own words, grouped by form field."""
    out: dict[str, list[str]] = {}
    for error in errors:
        out.setdefault(field_of(str(error["field"])), []).append(
            sentence(str(error["field"]), error["value"], str(error["allowed"]))
        )
    return out


PRODUCTS = tuple(p.value for p in Product)
DELIVERIES = tuple(d.value for d in Delivery)
MODELS = PLAN_MODELS

"""The treatment form: territories, each with its own model's fields, and the patient's
shared fields; form data turned into the body of ``POST /v1/calculations/treatment``.

The fields are the single-model forms' own (:func:`forms.model_form`), under the names
the API gives them in its messages: ``territories[1].inputs.lsf`` is the input of the
second territory's LSF, and the API's error about ``territories[1].inputs.lsf`` (or, for
a stored plan, ``inputs.territories[1].inputs.lsf``) is shown at it. The shared fields
are those of :class:`~y90dose.models.treatment_input.TreatmentInput`. No rule is restated
here: the body goes to the API's validation as typed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from y90dose.models.treatment_input import MAX_TERRITORIES, SHARED_FIELDS, TreatmentInput
from y90dose_service.problems import sentence
from y90dose_service.web import forms

TREATMENT = "treatment"
"""The form's model name for a multi-territory treatment (``PlanModel.TREATMENT``)."""
HEAD_FIELDS = ("name", "model", "treatment_date")
"""A territory's own fields, beside its inputs."""
CHOSEN_IN_TERRITORY = ("product", "delivery")
"""Inputs a territory states with a choice of its own (a plan states them once, on top)."""
LIST_INPUTS = (*forms.TUMOR_FIELDS, "segments")
"""Inputs a form sends several values of (tumour rows, segment checkboxes)."""
NEW_TERRITORIES = 2
"""Territories of a new treatment form (bilobar, the common case); more can be added."""
_TERRITORY = re.compile(r"^territories\[(\d{1,4})\]\.")
_ERROR_PATH = re.compile(
    r"^(territories\[\d+\])(?:\.(name|model|treatment_date)\b|\.inputs\.([A-Za-z_]+))?"
)


def prefix(index: int) -> str:
    """The name prefix of territory ``index``: ``territories[1].``."""
    return f"territories[{index}]."


def inputs_prefix(index: int) -> str:
    """The name prefix of territory ``index``'s inputs: ``territories[1].inputs.``."""
    return f"{prefix(index)}inputs."


def shared_form() -> list[forms.FormField]:
    """The fields the territories share (lung mass, prior lung dose, density, whole liver),
    from ``TreatmentInput``."""
    return [
        forms.form_field(name, info, info.is_required())
        for name, info in TreatmentInput.model_fields.items()
        if name != "territories"
    ]


def territory_form(model: str) -> list[forms.FormField]:
    """A territory's inputs by ``model``: the model's form without the shared fields."""
    return [f for f in forms.model_form(model) if f.name not in SHARED_FIELDS]


@dataclass(frozen=True)
class TerritoryForm:
    """One territory as the form shows it: its index, model and prefixed fields."""

    index: int
    model: str
    fields: list[forms.FormField]

    @property
    def prefix(self) -> str:
        """``territories[i].``"""
        return prefix(self.index)

    @property
    def inputs_prefix(self) -> str:
        """``territories[i].inputs.``"""
        return inputs_prefix(self.index)

    def names(self) -> list[str]:
        """Every form name of this territory (for its message slots)."""
        own = [self.prefix + name for name in HEAD_FIELDS]
        chosen = [self.inputs_prefix + name for name in CHOSEN_IN_TERRITORY]
        return [self.prefix[:-1], *own, *chosen, *(f.name for f in self.fields)]


def territory(index: int, model: str) -> TerritoryForm:
    """Territory ``index`` planned by ``model`` (MIRD when not a planning model)."""
    model = model if model in forms.MODELS else "mird"
    fields = [
        dataclasses.replace(f, name=inputs_prefix(index) + f.name) for f in territory_form(model)
    ]
    return TerritoryForm(index=index, model=model, fields=fields)


def territories_of(values: Mapping[str, Any]) -> list[TerritoryForm]:
    """The territories ``values`` (numbered 0..n-1) hold, each by its model."""
    return [
        territory(i, str(values.get(prefix(i) + "model") or "mird")) for i in range(_count(values))
    ]


def _count(values: Mapping[str, Any]) -> int:
    indices = {int(m.group(1)) for key in values if (m := _TERRITORY.match(key))}
    return max(indices) + 1 if indices else 0


def field_names(territories: Iterable[TerritoryForm]) -> list[str]:
    """Every name the treatment form has a message slot for."""
    names = ["territories", *(f.name for f in shared_form())]
    for t in territories:
        names += t.names()
    return names


class _Prefixed:
    """The part of a submitted form under ``prefix``, read as a form of its own (text only:
    a file sent in place of a number is read as blank)."""

    def __init__(self, form: Any, prefix: str) -> None:
        self.form, self.prefix = form, prefix

    def get(self, name: str) -> str:
        value = self.form.get(self.prefix + name)
        return value if isinstance(value, str) else ""

    def getlist(self, name: str) -> list[str]:
        return [v for v in self.form.getlist(self.prefix + name) if isinstance(v, str)]


def submitted_values(form: Any) -> dict[str, Any]:
    """The treatment fields of a submitted form, renumbered 0..n-1 in their order: text,
    or a list for tumour rows and segments (to show the form again)."""
    found = sorted({int(m.group(1)) for key in form if (m := _TERRITORY.match(key))})
    renumber = {old: new for new, old in enumerate(found)}
    values: dict[str, Any] = {}
    for key in form:
        match = _TERRITORY.match(key)
        name = key
        if match:
            name = prefix(renumber[int(match.group(1))]) + key[match.end() :]
        texts = [v for v in form.getlist(key) if isinstance(v, str)]
        is_list = match is not None and key.rsplit(".", 1)[-1] in LIST_INPUTS
        values[name] = texts if is_list else (texts[0] if texts else "")
    return values


def body_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """The treatment body (``TreatmentInput``) of the form's values: blank fields left
    out, numbers as typed numbers, anything else as text for the schema to judge."""
    shared: dict[str, Any] = {}
    for field in shared_form():
        text = str(values.get(field.name) or "").strip()
        if text:
            shared[field.name] = forms.typed(text)
    territories = []
    view = _Values(values)
    for t in territories_of(values):
        own = _Prefixed(view, t.prefix)
        inputs = forms.form_inputs(
            t.model, _Prefixed(view, t.inputs_prefix), territory_form(t.model)
        )
        for name in CHOSEN_IN_TERRITORY:
            chosen = own.get("inputs." + name).strip()
            if chosen:
                inputs[name] = chosen
        body: dict[str, Any] = {
            "name": own.get("name").strip(),
            "model": own.get("model") or t.model,
            "inputs": inputs,
        }
        when = own.get("treatment_date").strip()
        if when:
            body["treatment_date"] = when
        territories.append(body)
    return {"territories": territories, **shared}


class _Values:
    """Form values (text or lists) read as a submitted form."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def get(self, name: str) -> Any:
        value = self.values.get(name)
        return value[0] if isinstance(value, list) and value else value

    def getlist(self, name: str) -> list[Any]:
        value = self.values.get(name)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else [value]

    def __iter__(self) -> Any:
        return iter(self.values)


def new_values() -> dict[str, Any]:
    """A new treatment form: two territories by MIRD, glass, lobar."""
    values: dict[str, Any] = {}
    for index in range(NEW_TERRITORIES):
        values |= _blank_territory(index)
    return values


def _blank_territory(index: int) -> dict[str, Any]:
    return {
        prefix(index) + "name": "",
        prefix(index) + "model": "mird",
        inputs_prefix(index) + "product": "glass",
        inputs_prefix(index) + "delivery": "lobar",
    }


def changed(values: Mapping[str, Any], action: str) -> dict[str, Any]:
    """``values`` after ``add`` (a territory at the end, up to the API's most),
    ``remove-<i>`` (not the last one) or ``model-<i>`` (territory i's model changed: to
    BSA, the resin method, its product becomes resin, as a new BSA plan's form starts)."""
    out = dict(values)
    count = _count(values)
    if action == "add" and count < MAX_TERRITORIES:
        out |= _blank_territory(count)
    elif action.startswith("model-") and action[6:].isdigit():
        index = int(action[6:])
        if values.get(prefix(index) + "model") == "bsa":
            out[inputs_prefix(index) + "product"] = "resin"
    elif action.startswith("remove-") and action[7:].isdigit() and count > 1:
        gone = int(action[7:])
        out = {}
        for key, value in values.items():
            match = _TERRITORY.match(key)
            if match is None:
                out[key] = value
            elif (i := int(match.group(1))) != gone:
                out[prefix(i - (i > gone)) + key[match.end() :]] = value
    return out


def stored_values(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A stored treatment's inputs as the form's values (for a revision)."""
    shared = {f.name: inputs.get(f.name) for f in shared_form()}
    values: dict[str, Any] = forms.form_values(shared)
    for index, stored in enumerate(inputs.get("territories", [])):
        values[prefix(index) + "name"] = stored.get("name", "")
        values[prefix(index) + "model"] = stored.get("model", "mird")
        values[prefix(index) + "treatment_date"] = stored.get("treatment_date") or ""
        for name, value in forms.form_values(stored.get("inputs", {})).items():
            values[inputs_prefix(index) + name] = value
    return values


def from_single(
    model: str, inputs: Mapping[str, Any], product: str, delivery: str
) -> dict[str, Any]:
    """A single-model plan's inputs as territory 1 of a treatment (its patient's fields
    moved to the shared ones) and an empty territory 2: a plan becoming a treatment."""
    values = {prefix(0) + "name": "", prefix(0) + "model": model}
    for name, value in forms.form_values(dict(inputs)).items():
        values[name if name in SHARED_FIELDS else inputs_prefix(0) + name] = value
    values[inputs_prefix(0) + "product"] = product
    values[inputs_prefix(0) + "delivery"] = delivery
    return values | _blank_territory(1)


def field_of(error_field: str) -> str:
    """The form name an API error names: ``inputs.territories[1].inputs.tn_ratio.0`` and
    ``territories[1].inputs.tn_ratio`` -> ``territories[1].inputs.tn_ratio``;
    ``inputs.lung_mass_kg`` -> ``lung_mass_kg``; ``territories[1]`` stays."""
    path = error_field.removeprefix("inputs.")
    match = _ERROR_PATH.match(path)
    if match is None:
        return path.split(".")[0]
    if match.group(2):
        return f"{match.group(1)}.{match.group(2)}"
    if match.group(3):
        return f"{match.group(1)}.inputs.{match.group(3)}"
    return match.group(1)


def errors_by_field(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The API's field errors, in its own words, by the treatment form's names."""
    out: dict[str, list[str]] = {}
    for error in errors:
        out.setdefault(field_of(str(error["field"])), []).append(
            sentence(str(error["field"]), error["value"], str(error["allowed"]))
        )
    return out

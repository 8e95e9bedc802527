"""The dose-job form, generated from the API's job schema (``DoseJobCreate``).

Each field of the schema (the library's ``VoxelOptions`` with the service's policy, plus
the job's own fields) becomes one input: its label and unit from its name
(``activity_gbq`` -> "activity gbq", GBq), its help from its description, its choices from
its enum. Values go to ``DoseJobCreate`` as typed; the messages shown are the API's
own. Nothing about what is allowed is written here.
"""

from __future__ import annotations

import enum
import json
import re
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from y90dose.units import field_unit
from y90dose_service.problems import field_error
from y90dose_service.schemas.dose_jobs import DoseJobCreate
from y90dose_service.voxel_jobs import JOB_FIELDS

HIDDEN = ("study_id",)
"""Fields the page fills in itself (the study the form is on)."""
LIST_SEPARATOR = ","
"""Lists are typed comma-separated (VOI names may hold spaces)."""


@dataclass(frozen=True)
class JobField:
    """One input of the dose-job form."""

    name: str
    label: str
    unit: str
    help: str
    required: bool
    kind: str  # number, text, choice, bool, list, voi, vois, mapping
    choices: tuple[str, ...] = ()
    default: str = ""


def _parts(annotation: Any) -> list[Any]:
    found = [annotation]
    for arg in typing.get_args(annotation):
        found += _parts(arg)
    return found


def _enum_of(annotation: Any) -> type[enum.Enum] | None:
    for part in _parts(annotation):
        if isinstance(part, type) and issubclass(part, enum.Enum):
            return part
    return None


def _kind(name: str, annotation: Any) -> str:
    parts = _parts(annotation)
    origins = {typing.get_origin(p) for p in parts}
    if _enum_of(annotation) is not None:
        return "choice"
    if dict in origins:
        return "mapping"
    if list in origins:
        return "vois" if name.endswith("_rois") else "list"
    if bool in parts:
        return "bool"
    if float in parts or int in parts:
        return "number"
    return "voi" if name.endswith("_roi") or name == "normalize_to" else "text"


def _default(info: Any) -> str:
    if info.is_required():
        return ""
    default = info.get_default(call_default_factory=True)
    if default is None:
        return ""
    if isinstance(default, list):
        return f"{LIST_SEPARATOR} ".join(
            f"{v:g}" if isinstance(v, float) else str(v) for v in default
        )
    if isinstance(default, bool):
        return "yes" if default else "no"
    return str(getattr(default, "value", default))


def job_fields(schema: type[BaseModel] = DoseJobCreate) -> list[JobField]:
    """The form's fields: required ones first, then the options, then the job's own
    fields (label names, figures); hidden ones left out."""
    fields = []
    for name, info in schema.model_fields.items():
        if name in HIDDEN:
            continue
        kind = _kind(name, info.annotation)
        choice = _enum_of(info.annotation)
        fields.append(
            JobField(
                name=name,
                label=name.replace("_", " "),
                unit=field_unit(name),
                help=info.description or "",
                required=info.is_required(),
                kind=kind,
                choices=tuple(str(m.value) for m in choice) if choice else (),
                default=_default(info),
            )
        )
    # required first, then the options in the library's order, the job's own fields last
    return sorted(fields, key=lambda f: (not f.required, f.name in JOB_FIELDS))


def form_body(form: Any, study_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The job body a submitted form holds, and errors of values no schema could read
    (a mapping that is not JSON). Blank fields are left out: the schema's default applies.
    """
    body: dict[str, Any] = {"study_id": study_id}
    errors: list[dict[str, Any]] = []
    for field in job_fields():
        if field.kind == "bool":
            body[field.name] = form.get(field.name) == "yes"
            continue
        if field.kind == "vois":
            chosen = [v for v in form.getlist(field.name) if isinstance(v, str) and v.strip()]
            split = [v.strip() for c in chosen for v in c.split(LIST_SEPARATOR) if v.strip()]
            if split:
                body[field.name] = split
            continue
        value = form.get(field.name)
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            continue
        if field.kind == "number":
            body[field.name] = _number(text)
        elif field.kind == "list":
            body[field.name] = [_number(v.strip()) for v in re.split(r"[,\s]+", text) if v.strip()]
        elif field.kind == "mapping":
            try:
                body[field.name] = json.loads(text)
            except ValueError:
                errors.append(field_error(field.name, text, 'a JSON object, e.g. {"1": "liver"}'))
        else:
            body[field.name] = text
    return body, errors


def _number(text: str) -> Any:
    """A typed number as a JSON number; anything else as text, for the schema to refuse
    with the text quoted."""
    try:
        return float(text)
    except ValueError:
        return text


def form_values(form: Any) -> dict[str, Any]:
    """The submitted values, to show the form again as the user left it."""
    values: dict[str, Any] = {}
    for field in job_fields():
        if field.kind == "vois":
            values[field.name] = [v for v in form.getlist(field.name) if isinstance(v, str)]
        else:
            value = form.get(field.name)
            values[field.name] = value if isinstance(value, str) else ""
    return values


def initial_values() -> dict[str, Any]:
    """An empty form: checkboxes at their defaults, every other field blank."""
    values: dict[str, Any] = {}
    for field in job_fields():
        if field.kind == "bool":
            values[field.name] = "yes" if field.default == "yes" else ""
        elif field.kind == "vois":
            values[field.name] = []
        else:
            values[field.name] = ""
    return values

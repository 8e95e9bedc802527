"""Command-line options generated from the core's pydantic input models.

The CLI does not restate any validation rule: every option is a field of an input model
(``--perfused-volume-ml`` is ``perfused_volume_ml``), its help is the field's
description, and its value is validated by the model, the same rules the service uses.
"""

from __future__ import annotations

import argparse
import enum
import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from y90dose.cli.site_settings import add_settings_options, settings_from_args
from y90dose.errors import InputError
from y90dose.settings import ClinicalSettings
from y90dose.validation import parse

ModelT = typing.TypeVar("ModelT", bound=BaseModel)


def _is_list(annotation: object) -> bool:
    """``list[X]``, also inside ``list[X] | None``."""
    candidates = [annotation, *typing.get_args(annotation)]
    return any(typing.get_origin(candidate) is list for candidate in candidates)


def _is_bool(annotation: object) -> bool:
    """``bool`` (a switch: ``--predictive``)."""
    return annotation is bool


def _is_number_list(annotation: object) -> bool:
    """``list[float]`` (also of constrained floats, also inside ``list[float] | None``):
    one option, several values."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(candidate) is not list:
            continue
        (item,) = typing.get_args(candidate) or (None,)
        base = typing.get_args(item)[0] if typing.get_origin(item) is typing.Annotated else item
        if base in (int, float):
            return True
    return False


def _enum_values(annotation: object) -> list[str]:
    """The values of an Enum annotation (also inside ``X | None`` and ``list[X]``), else []."""
    candidates = [annotation, *typing.get_args(annotation)]
    candidates += [inner for c in candidates for inner in typing.get_args(c)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return [str(member.value) for member in candidate]
    return []


_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def _bounds(info: FieldInfo) -> str:
    """The field's numeric limits in words (``>= 0.1, <= 10000``), also of list items."""
    constraints = list(info.metadata)
    if typing.get_origin(info.annotation) is list:
        (item,) = typing.get_args(info.annotation) or (None,)
        for extra in getattr(item, "__metadata__", ()):  # Annotated[float, Field(...)]
            constraints += list(getattr(extra, "metadata", [extra]))
    parts = [
        f"{sign} {getattr(constraint, attr):g}"
        for attr, sign in _BOUNDS
        for constraint in constraints
        if isinstance(getattr(constraint, attr, None), int | float)
    ]
    return ", ".join(parts)


def option_for(field: str, renames: Mapping[str, str]) -> str:
    """The option string of a model field."""
    return "--" + renames.get(field, field).replace("_", "-")


def _with_options(text: str, model: type[BaseModel], renames: Mapping[str, str]) -> str:
    """``text`` with each field name of ``model`` written as its option (``--lsf``)."""
    for name in sorted(model.model_fields, key=len, reverse=True):
        text = re.sub(rf"(?<![-\w]){name}\b", option_for(name, renames), text)
    return text


def add_model_options(
    parser: argparse.ArgumentParser,
    model: type[BaseModel],
    *,
    exclude: Iterable[str] = (),
    renames: Mapping[str, str] | None = None,
) -> None:
    """Add one option per field of ``model`` (values are validated later by the model)."""
    renames = renames or {}
    skipped = set(exclude)
    fields = sorted(model.model_fields.items(), key=lambda item: not item[1].is_required())
    for name, info in fields:
        if name in skipped:
            continue
        help_text = _with_options(info.description or "", model, renames)
        bounds = _bounds(info)
        if bounds:
            help_text += f"; {bounds}"
        if info.is_required():
            help_text += " (required)"
        elif (
            info.default is not None
            and not callable(info.default)
            and not _is_bool(info.annotation)
        ):
            default = getattr(info.default, "value", info.default)
            help_text += f" (default {default})"
        # argparse expands %-formats in help: a literal "%" must be doubled
        kwargs: dict[str, Any] = {
            "dest": name,
            "help": help_text.replace("%", "%%"),
            "default": None,
        }
        choices = _enum_values(info.annotation)
        if choices:
            kwargs["metavar"] = "{" + ",".join(choices) + "}"
        if _is_bool(info.annotation):  # a switch; absent = the model's default
            kwargs["action"] = "store_true"
        elif _is_number_list(info.annotation) or (_is_list(info.annotation) and choices):
            # --segments VI VII, --v-thresholds-gy 100 120
            kwargs["action"] = "extend"
            kwargs["nargs"] = "+"
            kwargs["help"] += "; one or more, separated by spaces"
        elif _is_list(info.annotation):
            kwargs["action"] = "append"
            kwargs["help"] += "; repeat the option for each"
        parser.add_argument(option_for(name, renames), **kwargs)


def model_from_args(
    model: type[ModelT],
    args: argparse.Namespace,
    *,
    exclude: Iterable[str] = (),
    renames: Mapping[str, str] | None = None,
) -> ModelT:
    """Build and validate ``model`` from parsed options; errors name the CLI option."""
    renames = renames or {}
    skipped = set(exclude)
    data = {
        name: getattr(args, name)
        for name in model.model_fields
        if name not in skipped and getattr(args, name, None) is not None
    }
    try:
        return parse(model, data)
    except InputError as exc:
        raise option_error(exc, model, renames) from None


def compute_from_args(
    model: type[ModelT],
    compute: typing.Callable[[ModelT, ClinicalSettings], Any],
    args: argparse.Namespace,
) -> Any:
    """``compute(model_from_args(model, args), settings)``; errors name the CLI options.

    The settings are the defaults with the site's choices (``--segmentectomy-definition``).

    A computation may refuse a combination the schema accepts (BSA: ``delivery`` whole
    with a ``treated_volume_ml`` below the liver volume); its error is re-worded too.
    """
    inputs = model_from_args(model, args)
    settings = settings_from_args(args, inputs)
    try:
        return compute(inputs, settings)
    except InputError as exc:
        raise option_error(exc, model) from None


def option_error(
    exc: InputError, model: type[BaseModel], renames: Mapping[str, str] | None = None
) -> InputError:
    """``exc`` about a field of ``model``, re-worded with the CLI options' names.

    A field may name several (``height_cm/weight_kg``): each becomes its option.
    """
    renames = renames or {}
    fields = [part.split(".")[0] for part in exc.field.split("/")]
    known = all(field in model.model_fields for field in fields)
    option = "/".join(option_for(field, renames) for field in fields) if known else exc.field
    return InputError(option, exc.value, _with_options(exc.allowed, model, renames))


ModelTable = Mapping[str, tuple[type[BaseModel], Any, str]]
"""name -> (input schema, compute function, help) of a command's model subcommands."""


def add_model_group(
    subparsers: Any, command: str, help_text: str, models: ModelTable, handler: Any
) -> Any:
    """Add ``command`` with one subcommand per model, each with its schema's options.

    Returns the command's own subparsers, for subcommands that are not schema-driven.
    """
    parser = subparsers.add_parser(command, help=help_text, description=help_text)
    group = parser.add_subparsers(dest="model", metavar="MODEL", parser_class=type(parser))
    group.required = True
    for name, (schema, _, sub_help) in models.items():
        sub = group.add_parser(name, help=sub_help, description=sub_help)
        add_model_options(sub, schema)
        add_settings_options(sub)
        sub.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        sub.set_defaults(handler=handler)
    return group

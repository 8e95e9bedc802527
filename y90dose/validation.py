"""Turn pydantic validation failures into :class:`~y90dose.errors.InputError`.

The input schemas (``y90dose.models.*``) are the one set of rules the CLI and the service
share; this module gives their failures one wording: the field, the value, what is allowed.
"""

from __future__ import annotations

import unicodedata
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from y90dose.errors import InputError

ModelT = TypeVar("ModelT", bound=BaseModel)

EXAMPLE_INSTANT = "2026-03-04T10:00:00-05:00"
"""An instant as every time option and field takes it (shown in error messages)."""


def describe_error(error: Any) -> tuple[str, object, str]:
    """(field, value, allowed) of one pydantic error dict."""
    loc = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
    field = ".".join(loc) if loc else "input"
    ctx = error.get("ctx") or {}
    kind = error.get("type", "")
    value = error.get("input")
    if not loc:  # a rule across fields: no single value to show
        value = "(this combination of values)"
    if kind == "greater_than":
        allowed = f"a number > {ctx.get('gt')}"
    elif kind == "greater_than_equal":
        allowed = f"a number >= {ctx.get('ge')}"
    elif kind == "less_than":
        allowed = f"a number < {ctx.get('lt')}"
    elif kind == "less_than_equal":
        allowed = f"a number <= {ctx.get('le')}"
    elif kind == "missing":
        allowed = "a value (this field is required)"
        value = None
    elif kind == "enum":
        allowed = f"one of {ctx.get('expected')}"
    elif kind == "finite_number":
        allowed = "a finite number"
    elif kind == "extra_forbidden":
        allowed = "no such field"
    elif kind in ("timezone_aware", "datetime_parsing", "datetime_from_date_parsing"):
        allowed = f"an ISO 8601 date and time with its UTC offset, e.g. {EXAMPLE_INSTANT}"
    elif kind == "value_error":
        allowed = str(ctx.get("error", error.get("msg", "")))
        if allowed.startswith("Value error, "):
            allowed = allowed[len("Value error, ") :]
    else:
        allowed = str(error.get("msg", "a valid value"))
    return field, value, allowed


def parse(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """Validate ``data`` against ``model``; raise InputError naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, value, allowed = describe_error(exc.errors()[0])
        raise InputError(field, value, allowed) from None


def given_path(value: str | PathLike[str], field: str) -> Path:
    """``value`` as a ``Path``, refusing an empty name (``Path("")`` is the current folder).

    Raises
    ------
    InputError
        (``field``) when ``value`` is empty or blank.

    Examples
    --------
    >>> given_path("ct/", "ct")
    PosixPath('ct')
    """
    if isinstance(value, str) and not value.strip():
        raise InputError(field, value, "a file or folder name (not empty)")
    return Path(value)


SILENT_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
"""Unicode categories that print nothing a reader can see: separators (spaces, line and
paragraph breaks), control characters, and format characters (zero-width space U+200B,
joiners, direction marks)."""

SAYS_SOMETHING = "text with at least one visible character (not only spaces or invisible ones)"
"""What :func:`says_something` allows, for error messages."""


def says_something(text: str) -> bool:
    """Whether ``text`` holds at least one visible character: the one rule for text that
    must say something (a patient reference, a revision reason), in the CLI and the API.

    Examples
    --------
    >>> says_something("MRN-7"), says_something(" \\t\\n"), says_something("\\u200b ")
    (True, False, False)
    """
    return any(unicodedata.category(ch) not in SILENT_CATEGORIES for ch in text)

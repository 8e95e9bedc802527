"""Schemas shared by several resources."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

ItemT = TypeVar("ItemT")

OFFSET_MAX = 2**63 - 1
"""Largest ``offset`` of a list: SQL OFFSET is a signed 64-bit integer (SQLite and
PostgreSQL); a larger one would fail in the driver instead of being refused as input."""


class Page(BaseModel, Generic[ItemT]):
    """One page of a list, newest first."""

    items: list[ItemT]
    total: int = Field(description="number of items matching the filter, over all pages")
    offset: int = Field(description="items skipped before this page")
    limit: int = Field(description="largest page size asked for")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def unpaired_surrogate(value: Any, path: str = "") -> str | None:
    """The dotted path of the first text (key or value) in ``value`` holding an unpaired
    surrogate (JSON can spell ``\\ud800``; no UTF-8 text can hold it), else None."""
    if isinstance(value, str):
        return path or "." if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _SURROGATE.search(key):
                return where
            found = unpaired_surrogate(item, where)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = unpaired_surrogate(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _unicode_only(value: dict[str, Any]) -> dict[str, Any]:
    where = unpaired_surrogate(value)
    if where is not None:
        raise ValueError(f"text without unpaired surrogates (\\ud800-\\udfff) at {where}")
    return value


def _one_line(value: str) -> str:
    if not value.isprintable():
        raise ValueError("printable characters on one line (no control characters)")
    return value


def _free_text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError(
            "text without control characters or unpaired surrogates (tab and line breaks are fine)"
        )
    return value


def _date_as_text(value: Any) -> Any:
    if isinstance(value, str | date):
        return value
    raise ValueError("a date as text, YYYY-MM-DD (a number is not read as a date)")


OneLineText = Annotated[str, AfterValidator(_one_line)]
"""Identifiers and references: printable, one line (PostgreSQL refuses NUL in text)."""

FreeText = Annotated[str, AfterValidator(_free_text)]
"""Notes and comments: any text but control characters other than tab and line breaks."""

DateText = Annotated[date, BeforeValidator(_date_as_text)]
"""A calendar date given as ``YYYY-MM-DD``; a number (Unix seconds) is refused."""

JsonObject = Annotated[dict[str, Any], AfterValidator(_unicode_only)]
"""A JSON object whose texts are all valid Unicode (storable and printable as UTF-8)."""

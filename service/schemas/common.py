"""Schemas shared by several resources."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """One page of a list, newest first."""

    items: list[ItemT]
    total: int = Field(description="number of items matching the filter, over all pages")
    offset: int = Field(description="items skipped before this page")
    limit: int = Field(description="largest page size asked for")

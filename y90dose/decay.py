"""Radioactive decay of Y-90 between time-zone-aware instants.

A(t) = A0 x 2^(-t / T1/2). Published check: a 2.20 h delay loses 2.35 % of the
activity (Hoang et al., JVIR).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from y90dose.constants import HOURS_PER_JULIAN_YEAR, SECONDS_PER_HOUR, Y90_HALF_LIFE_H
from y90dose.errors import InputError
from y90dose.models.common import MIN_ACTIVITY_GBQ
from y90dose.units import gbq_to_mci


def require_aware(name: str, instant: datetime) -> None:
    """Refuse a naive datetime: an instant without a time zone is ambiguous by hours."""
    if instant.tzinfo is None or instant.tzinfo.utcoffset(instant) is None:
        raise InputError(
            name, instant.isoformat(), "an instant with a time zone, e.g. 2026-03-01T12:00:00-05:00"
        )


FIRST_YEAR, LAST_YEAR = 1900, 2999
"""Years any instant (treatment, calibration, decay) may fall in: Y-90 microspheres date
from the 1990s, and anything outside is a mistyped year, not a treatment; at the
calendar's ends (years 1 and 9999) the weekly-calibration date arithmetic overflows."""


def _plausible_year(when: datetime) -> datetime:
    if not FIRST_YEAR <= when.year <= LAST_YEAR:
        raise ValueError(f"an instant in the years {FIRST_YEAR}-{LAST_YEAR} (mistyped year?)")
    return when


Instant = Annotated[AwareDatetime, AfterValidator(_plausible_year)]
"""The one rule for every instant an input takes: a time zone, and a year in 1900-2999."""


def elapsed_hours(start: datetime, end: datetime) -> float:
    """Hours from ``start`` to ``end`` (negative when ``end`` is earlier).

    Subtracted in UTC: Python subtracts wall-clock times when both instants share one
    ``tzinfo`` object, an hour off across a daylight-saving change.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> ny = ZoneInfo("America/New_York")  # DST began 2026-03-08
    >>> elapsed_hours(datetime(2026, 3, 1, 12, tzinfo=ny), datetime(2026, 3, 9, 12, tzinfo=ny))
    191.0
    """
    require_aware("from", start)
    require_aware("to", end)
    return (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / SECONDS_PER_HOUR


MAX_BACKWARD_HALF_LIVES = 1000.0
"""Furthest back (in half-lives) an activity is decayed: 2^1000 ~ 1e301 keeps A0 x 2^n a
finite float for any A0 below 1e7 GBq; for Y-90 that is ~7.3 years, far beyond any real
calibration-to-treatment interval, so reaching it means a mistyped date."""


def _too_far_back(elapsed_h: float, half_life_h: float) -> bool:
    """Whether ``elapsed_h`` lies more than MAX_BACKWARD_HALF_LIVES half-lives in the past."""
    return -elapsed_h / half_life_h > MAX_BACKWARD_HALF_LIVES


def decay_factor(elapsed_h: float, half_life_h: float = Y90_HALF_LIFE_H.value) -> float:
    """Fraction of activity left after ``elapsed_h`` hours (> 1 for negative times).

    Raises
    ------
    InputError
        When ``elapsed_h`` lies more than :data:`MAX_BACKWARD_HALF_LIVES` half-lives in the
        past (the factor would overflow a float), or is not finite.
    """
    if half_life_h <= 0 or not math.isfinite(half_life_h):
        raise InputError("half_life_h", half_life_h, "a finite number > 0")
    if not math.isfinite(elapsed_h) or _too_far_back(elapsed_h, half_life_h):
        raise InputError(
            "elapsed_h",
            elapsed_h,
            f"a finite time no more than {MAX_BACKWARD_HALF_LIVES * half_life_h:.0f} h "
            "into the past",
        )
    return float(2.0 ** (-elapsed_h / half_life_h))


def factor_between(
    start: datetime,
    end: datetime,
    end_field: str = "to",
    half_life_h: float = Y90_HALF_LIFE_H.value,
) -> float:
    """Decay factor from ``start`` to ``end``; a too-early ``end`` is named as ``end_field``.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t0 = datetime(2036, 1, 1, tzinfo=timezone.utc)  # a year typed 2036 for 2026
    >>> factor_between(t0, t0.replace(year=2026), "to_time")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    y90dose.errors.InputError: to_time: ... expected an instant less than 7.3 years before ...
    """
    elapsed = elapsed_hours(start, end)
    if _too_far_back(elapsed, half_life_h):
        years = MAX_BACKWARD_HALF_LIVES * half_life_h / HOURS_PER_JULIAN_YEAR
        raise InputError(
            end_field,
            end.isoformat(),
            f"an instant less than {years:.1f} years before {start.isoformat()} "
            "(further back the activity A0 x 2^(t / T1/2) exceeds any float: "
            "is a year mistyped?)",
        )
    return decay_factor(elapsed, half_life_h)


def activity_at(
    activity_gbq: float,
    reference_time: datetime,
    when: datetime,
    half_life_h: float = Y90_HALF_LIFE_H.value,
    when_field: str = "when",
) -> float:
    """Activity (GBq) at ``when`` of a source that had ``activity_gbq`` at ``reference_time``.

    Examples
    --------
    >>> from datetime import datetime, timezone, timedelta
    >>> t0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    >>> round(activity_at(5.0, t0, t0 + timedelta(hours=64.1)), 6)
    2.5
    """
    if activity_gbq < 0 or not math.isfinite(activity_gbq):
        raise InputError("activity_gbq", activity_gbq, "a finite number >= 0")
    return activity_gbq * factor_between(reference_time, when, when_field, half_life_h)


def hours_until_activity(
    activity_gbq: float, target_activity_gbq: float, half_life_h: float = Y90_HALF_LIFE_H.value
) -> float:
    """Hours for ``activity_gbq`` to decay to ``target_activity_gbq`` (negative: earlier).

    The log of the ratio is taken as a difference of logs: the ratio itself overflows to
    infinity for a target near the smallest float (20 GBq / 1e-308 GBq).
    """
    if activity_gbq <= 0:
        raise InputError("activity_gbq", activity_gbq, "a number > 0")
    if target_activity_gbq <= 0:
        raise InputError("target_activity_gbq", target_activity_gbq, "a number > 0")
    return half_life_h * (math.log2(activity_gbq) - math.log2(target_activity_gbq))


def cumulated_activity_gbq_h(
    activity_gbq: float, half_life_h: float = Y90_HALF_LIFE_H.value
) -> float:
    """Time-integrated activity (GBq h) of a permanent implant: A0 x T1/2 / ln 2."""
    return activity_gbq * half_life_h / math.log(2.0)


class DecayInput(BaseModel):
    """An activity at one instant, and the instant to decay it to."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    activity_gbq: float = Field(
        ge=MIN_ACTIVITY_GBQ, le=1000.0, description="activity at from_time (GBq)"
    )
    from_time: Instant = Field(description="instant the activity is known at, with time zone")
    to_time: Instant = Field(description="instant to compute the activity at, with time zone")


class DecayResult(BaseModel):
    """The decayed activity, with the elapsed time and half-life used."""

    model_config = ConfigDict(frozen=True)

    activity_gbq: float = Field(description="activity at to_time (GBq)")
    activity_mci: float = Field(description="activity at to_time (mCi)")
    initial_activity_gbq: float
    elapsed_h: float
    decay_factor: float
    half_life_h: float


def decay(inputs: DecayInput) -> DecayResult:
    """Decay ``inputs.activity_gbq`` from ``from_time`` to ``to_time`` (earlier: grows)."""
    elapsed = elapsed_hours(inputs.from_time, inputs.to_time)
    factor = factor_between(inputs.from_time, inputs.to_time, "to_time")
    return DecayResult(
        activity_gbq=inputs.activity_gbq * factor,
        activity_mci=gbq_to_mci(inputs.activity_gbq * factor),
        initial_activity_gbq=inputs.activity_gbq,
        elapsed_h=elapsed,
        decay_factor=factor,
        half_life_h=Y90_HALF_LIFE_H.value,
    )

"""Decay between time-zone-aware instants (physics.md 2)."""

import math
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from y90dose.decay import (
    DecayInput,
    activity_at,
    cumulated_activity_gbq_h,
    decay,
    decay_factor,
    elapsed_hours,
    hours_until_activity,
)
from y90dose.errors import InputError
from y90dose.validation import parse

T0 = datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=-5)))


def test_hoang_delay_of_2_20_h_loses_2_35_percent() -> None:
    # Hoang et al., JVIR: 1 - 2^(-2.20 / 64.1) = 0.02351
    assert 1.0 - decay_factor(2.20) == pytest.approx(0.0235, abs=0.00005)


def test_one_half_life_halves_the_activity() -> None:
    assert activity_at(5.0, T0, T0 + timedelta(hours=64.1)) == pytest.approx(2.5)


def test_instants_in_different_zones_are_the_same_instant() -> None:
    same_instant = T0.astimezone(UTC)
    assert activity_at(5.0, T0, same_instant) == pytest.approx(5.0)


def test_earlier_instant_gives_more_activity() -> None:
    assert activity_at(5.0, T0, T0 - timedelta(hours=64.1)) == pytest.approx(10.0)


def test_naive_instant_is_refused() -> None:
    with pytest.raises(InputError, match="time zone"):
        activity_at(5.0, datetime(2026, 3, 1, 12), T0)


def test_decay_result_two_days() -> None:
    result = decay(DecayInput(activity_gbq=5, from_time=T0, to_time=T0 + timedelta(hours=48)))
    # 5 x 2^(-48/64.1) = 5 x 0.595086 = 2.97543
    assert result.activity_gbq == pytest.approx(2.97543, abs=1e-5)
    assert result.elapsed_h == pytest.approx(48.0)


def test_cumulated_activity_of_a_permanent_implant() -> None:
    # 1 GBq x 64.1 h / ln 2 = 92.477 GBq h
    assert cumulated_activity_gbq_h(1.0) == pytest.approx(92.477, abs=0.001)


@given(
    activity=st.floats(0.01, 100.0),
    hours=st.floats(-500.0, 500.0),
)
def test_decay_round_trip(activity: float, hours: float) -> None:
    later = T0 + timedelta(hours=hours)
    back = activity_at(activity_at(activity, T0, later), later, T0)
    assert back == pytest.approx(activity, rel=1e-9)


@given(activity=st.floats(0.1, 50.0), target=st.floats(0.1, 50.0))
def test_hours_until_activity_inverts_decay(activity: float, target: float) -> None:
    hours = hours_until_activity(activity, target)
    assert activity * decay_factor(hours) == pytest.approx(target, rel=1e-9)


def test_a_mistyped_year_backwards_is_refused_naming_the_instant() -> None:
    # 2036 typed for 2026: ten years back is 1366 half-lives, 2^1366 exceeds any float
    with pytest.raises(InputError) as info:
        decay(
            DecayInput(
                activity_gbq=3.0,
                from_time=datetime(2036, 1, 1, tzinfo=UTC),
                to_time=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
    assert info.value.field == "to_time"
    assert "7.3 years" in info.value.allowed


def test_backward_limit_is_a_thousand_half_lives_and_finite_up_to_it() -> None:
    # 1000 half-lives back is allowed and finite even for a large activity; one hour more is not
    factor = decay_factor(-1000 * 64.1)
    assert factor == 2.0**1000
    assert math.isfinite(1000.0 * factor)
    with pytest.raises(InputError):
        decay_factor(-1000 * 64.1 - 1.0)


def test_far_future_decays_to_zero_without_error() -> None:
    # forward in time there is no overflow: ten years on nothing measurable is left
    result = activity_at(3.0, T0, T0 + timedelta(days=3653))
    assert 0.0 <= result < 1e-300


def test_elapsed_hours_across_dst_with_one_shared_zoneinfo() -> None:
    # Issue 9, defect 8: 2026-03-01 12:00 EST (UTC-5) to 2026-03-09 12:00 EDT (UTC-4) is
    # 8 x 24 - 1 = 191 h; Python's same-tzinfo subtraction gave the wall-clock 192 h.
    ny = ZoneInfo("America/New_York")
    start, end = datetime(2026, 3, 1, 12, tzinfo=ny), datetime(2026, 3, 9, 12, tzinfo=ny)
    assert elapsed_hours(start, end) == 191.0
    assert elapsed_hours(end, start) == -191.0
    result = decay(DecayInput(activity_gbq=5.0, from_time=start, to_time=end))
    assert result.elapsed_h == 191.0
    assert result.activity_gbq == pytest.approx(5.0 * 2 ** (-191 / 64.1), rel=1e-12)


@pytest.mark.parametrize("year", [1, 1899, 3000, 9999])
def test_decay_takes_the_one_instant_rule(year: int) -> None:
    # Issue 9, defect 6: decay accepted years 0001-9999, the vial 1900-2999.
    ok = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with pytest.raises(InputError) as raised:
        parse(DecayInput, {"activity_gbq": 1, "from_time": ok, "to_time": ok.replace(year=year)})
    assert raised.value.field == "to_time"
    assert "1900-2999" in raised.value.allowed
    with pytest.raises(InputError):
        parse(DecayInput, {"activity_gbq": 1, "from_time": ok.replace(year=year), "to_time": ok})


@pytest.mark.parametrize(
    ("activity", "accepted"), [(1e-300, False), (0.000999, False), (0.001, True)]
)
def test_decay_activity_has_a_plausible_lower_limit(activity: float, accepted: bool) -> None:
    ok = datetime(2026, 3, 1, 12, tzinfo=UTC)
    data = {"activity_gbq": activity, "from_time": ok, "to_time": ok}
    if accepted:
        assert parse(DecayInput, data).activity_gbq == activity
    else:
        with pytest.raises(InputError) as raised:
            parse(DecayInput, data)
        assert raised.value.field == "activity_gbq"
        assert ">= 0.001" in raised.value.allowed

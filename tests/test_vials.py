"""Vial choice and calibration timing for glass and resin."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from y90dose.decay import decay_factor
from y90dose.errors import InputError
from y90dose.findings import Code
from y90dose.validation import parse
from y90dose.vials import GlassCalibrationConvention, VialInput, choose_vial


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_wednesday_treatment_uses_sunday_noon_eastern() -> None:
    # Sunday 2026-03-01 12:00 EST -> Wednesday 2026-03-04 10:00 EST = 70 h.
    # 5 GBq x 2^(-70/64.1) = 2.3455 GBq (< 3.1); 7 GBq x 0.469096 = 3.28367 GBq: 7 GBq chosen.
    result = choose_vial(
        VialInput(activity_gbq=3.1, treatment_time=at("2026-03-04T10:00:00-05:00"))
    )
    assert result.calibration_time == at("2026-03-01T12:00:00-05:00")
    assert result.vial_gbq == 7.0
    assert result.activity_at_treatment_gbq == pytest.approx(7 * decay_factor(70.0))
    assert result.activity_at_treatment_gbq == pytest.approx(3.28367, abs=1e-5)
    # exact time: 64.1 x log2(7 / 3.1) = 75.32 h after calibration
    exact_h = (result.exact_time - result.calibration_time).total_seconds() / 3600
    assert exact_h == pytest.approx(75.3231, abs=1e-3)
    assert result.findings == []


def test_calibration_across_daylight_saving_change() -> None:
    # US DST starts 2026-03-08 02:00: calibration is Sunday 12:00 EDT (-04:00).
    convention = GlassCalibrationConvention()
    assert convention.last_calibration(at("2026-03-09T10:00:00-04:00")) == at(
        "2026-03-08T12:00:00-04:00"
    )


def test_sunday_morning_belongs_to_the_previous_week() -> None:
    convention = GlassCalibrationConvention()
    assert convention.last_calibration(at("2026-03-01T11:00:00-05:00")) == at(
        "2026-02-22T12:00:00-05:00"
    )
    assert convention.last_calibration(at("2026-03-01T12:00:00-05:00")) == at(
        "2026-03-01T12:00:00-05:00"
    )


def test_dose_scales_with_the_vial_activity() -> None:
    result = choose_vial(
        VialInput(
            activity_gbq=3.1, treatment_time=at("2026-03-04T10:00:00-05:00"), prescribed_dose_gy=120
        )
    )
    assert result.dose_gy == pytest.approx(120 * result.activity_at_treatment_gbq / 3.1)


def test_too_much_activity_for_any_vial_blocks() -> None:
    result = choose_vial(
        VialInput(activity_gbq=19.0, treatment_time=at("2026-03-06T12:00:00-05:00"))
    )
    assert result.vial_gbq == 20.0
    assert result.activity_at_treatment_gbq < 19.0
    assert [f.code for f in result.findings] == [Code.ACTIVITY_ABOVE_LARGEST_VIAL]
    # the 20 GBq vial holds 19 GBq 64.1 x log2(20/19) = 4.743 h after calibration
    exact_h = (result.exact_time - result.calibration_time).total_seconds() / 3600
    assert exact_h == pytest.approx(4.7434, abs=1e-3)


def test_resin_needs_its_calibration_instant() -> None:
    with pytest.raises(InputError) as info:
        choose_vial(
            VialInput(
                activity_gbq=2.0, treatment_time=at("2026-03-04T10:00:00-05:00"), product="resin"
            )
        )
    assert info.value.field == "calibration_time"
    result = choose_vial(
        VialInput(
            activity_gbq=2.0,
            treatment_time=at("2026-03-04T10:00:00-05:00"),
            product="resin",
            calibration_time=at("2026-03-03T10:00:00-05:00"),
        )
    )
    # 3 GBq x 2^(-24/64.1) = 2.3129 GBq
    assert result.activity_at_treatment_gbq == pytest.approx(3 * 2 ** (-24 / 64.1))


def test_naive_treatment_time_refused() -> None:
    with pytest.raises(InputError) as info:
        parse(VialInput, {"activity_gbq": 3, "treatment_time": "2026-03-04T10:00:00"})
    assert info.value.field == "treatment_time"


def test_unknown_time_zone_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        GlassCalibrationConvention(timezone="Mars/Olympus")


def test_vial_choice_is_the_smallest_sufficient() -> None:
    treatment = at("2026-03-02T12:00:00-05:00")  # 24 h after calibration
    for needed in (1.0, 2.5, 4.0, 6.0, 9.0, 12.0, 15.0):
        result = choose_vial(VialInput(activity_gbq=needed, treatment_time=treatment))
        assert result.activity_at_treatment_gbq >= needed
        smaller = [v for v in (3, 5, 7, 10, 15, 20) if v < result.vial_gbq]
        assert all(v * decay_factor(24.0) < needed for v in smaller)
    assert timedelta(hours=24) == treatment - result.calibration_time


@pytest.mark.parametrize("product", ["glass", "resin"])
def test_treatment_years_before_calibration_is_refused(product: str) -> None:
    # a calibration instant typed 2036 for 2026: the vial's activity would exceed any float
    with pytest.raises(InputError) as info:
        choose_vial(
            VialInput(
                activity_gbq=2.0,
                treatment_time=at("2026-03-04T10:00:00-05:00"),
                product=product,
                calibration_time=at("2036-03-03T10:00:00-05:00"),
            )
        )
    assert info.value.field == "treatment_time"


def test_exact_time_is_right_across_a_dst_change() -> None:
    """Calibration Sunday 2026-03-01 12:00 EST; US DST starts 2026-03-08 02:00.

    3 GBq holds 0.5 GBq 64.1 x log2(6) = 165.696 h later: 2026-03-08 14:41:46 EST, which is
    10:41:46 EDT, after the 10:00 EDT treatment (the vial still holds 0.5038 GBq then).
    Adding the hours to the wall clock gave 09:41:46 EDT, an hour early.
    """
    result = choose_vial(VialInput(activity_gbq=0.5, treatment_time=at("2026-03-08T10:00-04:00")))
    assert result.calibration_time == at("2026-03-01T12:00:00-05:00")
    assert result.vial_gbq == 3.0
    # same-zone subtraction is wall-clock too: compare in UTC
    elapsed = result.exact_time.astimezone(UTC) - result.calibration_time.astimezone(UTC)
    elapsed_h = elapsed.total_seconds() / 3600
    assert elapsed_h == pytest.approx(165.69610, abs=1e-5)
    assert result.exact_time > result.treatment_time
    assert result.exact_time.utcoffset() == timedelta(hours=-4)  # shown in EDT


def test_vial_decay_across_dst_with_one_shared_zoneinfo() -> None:
    # Issue 9, defect 8: calibration 2026-03-01 12:00 EST, treatment 2026-03-09 12:00 EDT,
    # both in one ZoneInfo object: 191 h, not the wall-clock 192 h. 3.1 GBq needed:
    # 15 GBq x 2^(-191/64.1) = 1.9015 GBq < 3.1; 20 GBq x 2^(-191/64.1) = 2.5354 GBq < 3.1
    # as well, so the largest vial is reported with its activity at 191 h.
    ny = ZoneInfo("America/New_York")
    result = choose_vial(
        VialInput(
            activity_gbq=3.1,
            treatment_time=datetime(2026, 3, 9, 12, tzinfo=ny),
            calibration_time=datetime(2026, 3, 1, 12, tzinfo=ny),
        )
    )
    assert result.vial_gbq == 20.0
    assert result.activity_at_treatment_gbq == pytest.approx(20 * 2 ** (-191 / 64.1), rel=1e-12)
    assert result.activity_at_treatment_gbq == pytest.approx(2.5354, abs=1e-4)


@pytest.mark.parametrize(
    ("treatment", "hours_before", "flagged"),
    [
        # next calibration Sunday 2026-03-08 12:00 EDT (-04:00), DST began at 02:00 that day
        ("2026-03-07T12:00:00-05:00", 23.0, True),  # Saturday noon EST = 17:00 UTC; 23 h
        ("2026-03-07T11:00:00-05:00", 24.0, True),  # exactly 24 h before: flagged (within)
        ("2026-03-07T10:54:00-05:00", 24.1, False),
        ("2026-03-08T09:00:00-04:00", 3.0, True),  # the Sunday-morning treatment
        ("2026-03-08T12:00:00-04:00", 168.0 - 1.0, False),  # at the instant: this week's
    ],
)
def test_treatment_within_24_h_before_a_calibration_instant_is_flagged(
    treatment: str, hours_before: float, flagged: bool
) -> None:
    # Issue 9: a Sunday-morning glass treatment silently took the previous week's
    # calibration. The weekly convention still gives the previous instant (a setting), but
    # a treatment at most 24 h before the next one is a warning naming both instants.
    result = choose_vial(VialInput(activity_gbq=1.0, treatment_time=at(treatment)))
    found = [f for f in result.findings if f.code is Code.VIAL_CALIBRATION_IMMINENT]
    assert bool(found) is flagged
    if flagged:
        assert f"{hours_before:.1f} h before the calibration instant" in found[0].message
        assert "2026-03-08T12:00:00-04:00" in found[0].message


def test_no_imminent_calibration_finding_with_an_explicit_calibration_time() -> None:
    result = choose_vial(
        VialInput(
            activity_gbq=1.0,
            treatment_time=at("2026-03-08T09:00:00-04:00"),
            calibration_time=at("2026-03-01T12:00:00-05:00"),
        )
    )
    assert Code.VIAL_CALIBRATION_IMMINENT not in {f.code for f in result.findings}


def test_vial_activity_has_a_plausible_lower_limit() -> None:
    with pytest.raises(InputError) as raised:
        parse(VialInput, {"activity_gbq": 1e-300, "treatment_time": "2026-03-04T10:00:00-05:00"})
    assert raised.value.field == "activity_gbq"

"""Invariants of the planning models (hypothesis)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from y90dose.models.mird import MirdDoseInput, MirdPlanInput, dose_mird, plan_mird
from y90dose.models.partition import (
    PartitionDoseInput,
    PartitionPlanInput,
    dose_partition,
    plan_partition,
)

doses = st.floats(10.0, 600.0)
volumes = st.floats(20.0, 3000.0)
lsfs = st.floats(0.0, 0.5)
residuals = st.floats(0.0, 0.2)
products = st.sampled_from(["glass", "resin"])


@given(dose=doses, volume=volumes, lsf=lsfs, residual=residuals, product=products)
def test_mird_forward_then_inverse(
    dose: float, volume: float, lsf: float, residual: float, product: str
) -> None:
    plan = plan_mird(
        MirdPlanInput(
            target_dose_gy=dose,
            perfused_volume_ml=volume,
            lsf=lsf,
            residual=residual,
            product=product,
        )
    )
    back = dose_mird(
        MirdDoseInput(
            activity_gbq=plan.activity_gbq,
            perfused_volume_ml=volume,
            lsf=lsf,
            residual=residual,
            product=product,
        )
    )
    assert back.doses_gy["perfused"] == pytest.approx(dose, rel=1e-9)
    assert back.doses_gy["lung"] == pytest.approx(plan.doses_gy["lung"], rel=1e-9)


@given(
    normal=st.floats(5.0, 100.0),
    tumours=st.lists(st.tuples(st.floats(1.0, 300.0), st.floats(0.5, 8.0)), min_size=1, max_size=3),
    normal_volume=st.floats(20.0, 2000.0),
    lsf=lsfs,
)
def test_partition_forward_then_inverse(
    normal: float, tumours: list[tuple[float, float]], normal_volume: float, lsf: float
) -> None:
    geometry = {
        "tumor_volume_ml": [v for v, _ in tumours],
        "tn_ratio": [t for _, t in tumours],
        "normal_volume_ml": normal_volume,
        "lsf": lsf,
    }
    plan = plan_partition(PartitionPlanInput(normal_dose_gy=normal, **geometry))
    back = dose_partition(PartitionDoseInput(activity_gbq=plan.activity_gbq, **geometry))
    assert back.doses_gy["normal"] == pytest.approx(normal, rel=1e-9)
    assert back.doses_gy["tumors"] == pytest.approx([t * normal for _, t in tumours], rel=1e-9)


@given(activity=st.floats(0.1, 10.0), factor=st.floats(0.1, 5.0), volume=volumes, lsf=lsfs)
def test_dose_is_linear_in_activity(
    activity: float, factor: float, volume: float, lsf: float
) -> None:
    one = dose_mird(MirdDoseInput(activity_gbq=activity, perfused_volume_ml=volume, lsf=lsf))
    scaled = dose_mird(
        MirdDoseInput(activity_gbq=activity * factor, perfused_volume_ml=volume, lsf=lsf)
    )
    for key in ("perfused", "lung"):
        assert scaled.dose_gy(key) == pytest.approx(factor * one.dose_gy(key), rel=1e-9, abs=1e-12)


@given(dose=doses, volume=volumes, low=st.floats(0.0, 0.45), step=st.floats(0.001, 0.3))
def test_activity_rises_with_lsf(dose: float, volume: float, low: float, step: float) -> None:
    high = min(low + step, 0.99)
    a_low = plan_mird(MirdPlanInput(target_dose_gy=dose, perfused_volume_ml=volume, lsf=low))
    a_high = plan_mird(MirdPlanInput(target_dose_gy=dose, perfused_volume_ml=volume, lsf=high))
    assert a_high.activity_gbq > a_low.activity_gbq


@settings(max_examples=50)
@given(activity=st.floats(0.1, 10.0), tumour=volumes, normal=volumes, lsf=lsfs)
def test_partition_with_tn_one_is_mird_on_the_sum(
    activity: float, tumour: float, normal: float, lsf: float
) -> None:
    partition = dose_partition(
        PartitionDoseInput(
            activity_gbq=activity,
            tumor_volume_ml=[tumour],
            tn_ratio=[1.0],
            normal_volume_ml=normal,
            lsf=lsf,
        )
    )
    mird = dose_mird(
        MirdDoseInput(activity_gbq=activity, perfused_volume_ml=tumour + normal, lsf=lsf)
    )
    assert partition.doses_gy["tumor"] == pytest.approx(mird.doses_gy["perfused"], rel=1e-9)
    assert partition.doses_gy["normal"] == pytest.approx(mird.doses_gy["perfused"], rel=1e-9)

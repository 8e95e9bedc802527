"""Activity-dose curves of a voxel run: each VOI's mean dose, D70 and V100 against the
administered activity.

Voxel doses scale linearly with the activity (the dose engines are linear in the activity
map, and the map in the activity it is scaled to): at s times the run's activity every
voxel dose is s times its own. So mean(s) = s x mean, D70(s) = s x D70, and
V100(s) = the percentage of the VOI at or above 100/s Gy in the run's dose,
:meth:`y90dose.dvh.VoiDoses.volume_at_dose_percent` on the run's own VOI doses (same
definitions as its metrics). The activity axis is the run's ``activity_gbq``, or, for an
image used at its own Bq/mL calibration, the activity in the image.
"""

from __future__ import annotations

from y90dose.dvh import VoiDoses
from y90dose.models.curves import (
    ACTIVITY_RANGE,
    CURVE_POINTS,
    ActivityDoseCurves,
    Curve,
    axis,
)
from y90dose.pipeline.voxel_run import VoxelRun
from y90dose.settings import DEFAULT_SETTINGS

V_THRESHOLD_GY = 100.0
"""The V metric of the curves (V100)."""
D_PERCENT = 70.0
"""The D metric of the curves (D70)."""


def voxel_curves(run: VoxelRun, *, points: int = CURVE_POINTS) -> ActivityDoseCurves:
    """Mean dose, D70 and V100 of every VOI of ``run`` against the activity."""
    given = run.inputs.activity_gbq
    activity = float(given) if given is not None else run.dose_result.administered_in_image_gbq
    label = (
        "administered activity (GBq)"
        if given is not None
        else "activity in the image (GBq; the image's own calibration)"
    )
    low, high = ACTIVITY_RANGE
    x = axis(low * activity, high * activity, activity, points)
    scale = x / activity
    dose = run.dose_image.array
    series: dict[str, dict[str, list[float]]] = {}
    for name, metrics in run.voi_metrics.items():
        voi = VoiDoses.from_mask(
            dose,
            run.vois[name],
            spacing_zyx_mm=run.spacing_zyx_mm,
            density_g_ml=run.density_g_ml,
            weighting=metrics.weighting,
            voi_name=name,
        )
        d70 = voi.dose_at_volume_gy(D_PERCENT)
        series[name] = {
            "mean_gy": (scale * metrics.mean_gy).tolist(),
            "d70_gy": (scale * d70).tolist(),
            "v100_percent": [voi.volume_at_dose_percent(V_THRESHOLD_GY / f) for f in scale],
        }
    return ActivityDoseCurves(
        source="voxel run",
        activity_gbq=activity,
        against_activity=Curve(
            x_name="activity_gbq",
            x_label=label,
            x=x.tolist(),
            nominal_x=activity,
            held="the run's activity distribution, scaled",
            series=series,
        ),
        limits_gy={"lung": DEFAULT_SETTINGS.lung_dose_limit_gy},
        notes=[
            "voxel doses scale linearly with the activity: mean and D70 are the run's times "
            "activity / run activity; V100 is the run's V at 100 Gy x run activity / activity"
        ],
    )

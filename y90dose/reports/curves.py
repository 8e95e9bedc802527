"""The figure of activity-dose curves, as PNG bytes (matplotlib object API, no pyplot).

One panel per curve and metric: a plan shows its compartments' mean doses against the
activity, the TN ratio and the LSF; a voxel run its VOIs' mean, D70 and V100 against the
activity. The plan's (or run's) own value is a dashed vertical line, the lung limit a
dotted horizontal one on the dose panels that show a lung.
"""

from __future__ import annotations

import io

from y90dose.models.curves import ActivityDoseCurves

METRIC_LABELS = {
    "mean_gy": "mean dose (Gy)",
    "d70_gy": "D70 (Gy)",
    "v100_percent": "V100 (% of volume)",
}
PANEL_SIZE_IN = (4.2, 3.4)
DPI = 100


def curves_png(curves: ActivityDoseCurves) -> bytes:
    """The curves' figure as PNG bytes.

    Examples
    --------
    >>> from y90dose.models.curves import plan_curves
    >>> from y90dose.models.mird import MirdDoseInput, dose_mird
    >>> i = MirdDoseInput(activity_gbq=3, perfused_volume_ml=1165, lsf=0.08)
    >>> curves_png(plan_curves(i, dose_mird(i)))[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [
        (curve, metric)
        for curve in curves.curves()
        for metric in METRIC_LABELS
        if any(metric in values for values in curve.series.values())
    ]
    width, height = PANEL_SIZE_IN
    figure = Figure(figsize=(width * len(panels), height), dpi=DPI)
    FigureCanvasAgg(figure)
    axes_list = figure.subplots(1, len(panels), squeeze=False)[0]
    for axes, (curve, metric) in zip(axes_list, panels, strict=True):
        for name, values in curve.series.items():
            if metric in values:
                axes.plot(curve.x, values[metric], label=name)
        axes.axvline(curve.nominal_x, color="0.4", linestyle="--", linewidth=0.8)
        lung_limit = curves.limits_gy.get("lung")
        if (
            metric != "v100_percent"
            and lung_limit is not None
            and any("lung" in name.lower() for name in curve.series)
        ):
            axes.axhline(lung_limit, color="tab:red", linestyle=":", linewidth=0.8)
        if metric == "v100_percent":
            axes.set_ylim(0, 101)
        else:
            axes.set_ylim(bottom=0)
        axes.set_xlabel(curve.x_label)
        axes.set_ylabel(METRIC_LABELS[metric])
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=7)
    figure.suptitle(f"Activity-dose curves, {curves.source} (dashed: as planned/given)", fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()

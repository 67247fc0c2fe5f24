"""The report drawn: four panels over the period, as a PNG or an SVG (matplotlib, the
``plot`` extra).

1. utilization: core-hours per bin, stacked allocated / idle / down (hatched, so that the
   parts read apart in grayscale too);
2. queue wait of the jobs that started in each bin: median and 95th percentile;
3. jobs that ended in each bin, stacked by result;
4. the users with the most core-hours in the period.

:func:`figure_data` is what is drawn, series by series, so that the tests check the
picture through the data behind it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fluxjournal.reading.report import RESULTS, Series, Usage, group_name

#: Colors of the Okabe-Ito palette (told apart with any color vision) and hatches (told
#: apart in grayscale).
STYLE = {
    "allocated": ("#0072B2", ""),
    "idle": ("#E6E6E6", ""),
    "down": ("#D55E00", "//"),
    "completed": ("#009E73", ""),
    "failed": ("#D55E00", "//"),
    "canceled": ("#999999", ".."),
    "timeout": ("#E69F00", "xx"),
}
SECONDS_PER_HOUR = 3600.0
TOP_USERS = 10
#: How much above the highest bar a panel reaches: room for its legend.
HEADROOM = 1.3


class PlotUnavailable(Exception):
    """matplotlib is not installed."""


def figure_data(series: Series, users: list[Usage], top: int = TOP_USERS) -> dict[str, Any]:
    """Every series the figure draws, in the units it draws them."""
    hours = [v / SECONDS_PER_HOUR for v in series.allocated]
    return {
        "bins": series.starts,
        "bin_seconds": series.width,
        "allocated": hours,
        "idle": [v / SECONDS_PER_HOUR for v in series.idle],
        "down": [v / SECONDS_PER_HOUR for v in series.down],
        "wait_median": series.wait_median,
        "wait_p95": series.wait_p95,
        "endings": {result: series.endings[result] for result in RESULTS},
        "top_users": [
            (str(group_name("user", line.group)), line.core_seconds / SECONDS_PER_HOUR)
            for line in users[:top]
        ],
    }


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable("--plot needs matplotlib: pip install 'fluxjournal[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bin_name(width: float) -> str:
    for seconds, name in ((3600.0, "hour"), (86400.0, "day"), (604800.0, "week")):
        if abs(width - seconds) < 1e-6:
            return name
    return f"{width / SECONDS_PER_HOUR:g} h"


def _stacked(axis: Any, times: list, widths: list, parts: dict[str, list]) -> None:
    """Bars of each bin, one part on the other, in each part's color and hatch."""
    bottom = [0.0] * len(times)
    for name, values in parts.items():
        color, hatch = STYLE[name]
        axis.bar(
            times,
            values,
            widths,
            bottom=bottom,
            color=color,
            hatch=hatch,
            edgecolor="black",
            linewidth=0.3,
            label=name,
            align="edge",
        )
        bottom = [b + v for b, v in zip(bottom, values)]
    axis.set_ylim(0, max(bottom, default=0.0) * HEADROOM or 1.0)


def draw(path: str, data: dict[str, Any], instance: str, start: float, end: float) -> None:
    """Write the figure of ``data`` (:func:`figure_data`) to ``path`` (.png or .svg)."""
    plt = _pyplot()
    times = [datetime.fromtimestamp(t) for t in data["bins"]]
    # matplotlib's dates are days; the last bin ends with the period
    widths = [(min(t + data["bin_seconds"], end) - t) / 86400.0 * 0.9 for t in data["bins"]]
    middles = [
        datetime.fromtimestamp((t + min(t + data["bin_seconds"], end)) / 2) for t in data["bins"]
    ]
    bin_name = _bin_name(data["bin_seconds"])
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5), constrained_layout=True)
    (util, wait), (ends, users) = axes
    _stacked(util, times, widths, {part: data[part] for part in ("allocated", "idle", "down")})
    util.set_title(f"Utilization per {bin_name}")
    util.set_ylabel("core-hours")
    util.legend(loc="upper right", fontsize="small")
    median = [v if v is not None else float("nan") for v in data["wait_median"]]
    p95 = [v if v is not None else float("nan") for v in data["wait_p95"]]
    wait.plot(middles, median, marker="o", color="#0072B2", label="median")
    wait.plot(middles, p95, marker="s", linestyle="--", color="#D55E00", label="95th percentile")
    highest = max((v for v in (*median, *p95) if v == v), default=0.0)  # NaN != NaN
    wait.set_ylim(0, highest * HEADROOM or 1.0)
    wait.set_title(f"Queue wait of the jobs started each {bin_name}")
    wait.set_ylabel("seconds, submit to alloc")
    wait.legend(loc="upper right", fontsize="small")
    _stacked(ends, times, widths, {result: data["endings"][result] for result in RESULTS})
    ends.set_title(f"Jobs ended each {bin_name}, by result")
    ends.set_ylabel("jobs")
    ends.legend(loc="upper right", fontsize="small")
    names = [name for name, _ in data["top_users"]][::-1]
    values = [value for _, value in data["top_users"]][::-1]
    users.barh(names, values, color=STYLE["allocated"][0], edgecolor="black", linewidth=0.3)
    users.set_title(f"Top {len(names)} users by core-hours")
    users.set_xlabel("core-hours")
    for axis in (util, wait, ends):
        axis.tick_params(axis="x", labelrotation=30, labelsize="small")
    fig.suptitle(
        f"Instance {instance}: {datetime.fromtimestamp(start):%Y-%m-%d %H:%M} to "
        f"{datetime.fromtimestamp(end):%Y-%m-%d %H:%M}"
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""The quality report behind `lakehouse quality`: latest score per table and its trend."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from lakehouse.quality.history import daily_scores, pass_threshold, results
from lakehouse.storage import LakeStore


def quality_report(store: LakeStore, days: int) -> list[dict]:
    """Per table: latest day and score, threshold, status, change over the window, trend."""
    scores = daily_scores(results(store)).collect()
    report = []
    for (table,), rows in scores.sort("table", "day").group_by("table", maintain_order=True):
        window = rows.tail(days)
        latest = window.row(-1, named=True)
        threshold = pass_threshold(table)
        report.append(
            {
                "table": table,
                "day": latest["day"].isoformat(),
                "score": round(latest["score"], 6),
                "threshold": threshold,
                "status": "ok"
                if latest["score"] >= threshold and not latest["error_failures"]
                else "alert",
                "error_failures": int(latest["error_failures"]),
                "change": round(latest["score"] - window["score"][0], 6),
                "trend": [
                    {"day": day.isoformat(), "score": round(score, 6)}
                    for day, score in window.select("day", "score").iter_rows()
                ],
            }
        )
    return report


def format_report(report: list[dict], days: int) -> str:
    if not report:
        return "no quality results yet: materialize some assets first"
    lines = [
        f"{'table':<28} {'day':<10} {'score':>8} {'threshold':>9} {'change':>8}  "
        f"trend (last {days} days)"
    ]
    for row in report:
        spark = _sparkline([point["score"] for point in row["trend"]], row["threshold"])
        flag = "" if row["status"] == "ok" else "  << ALERT"
        lines.append(
            f"{row['table']:<28} {row['day']:<10} {row['score']:>8.2%} {row['threshold']:>9.0%} "
            f"{row['change']:>+8.2%}  {spark}{flag}"
        )
    return "\n".join(lines)


def _sparkline(values: list[float], threshold: float) -> str:
    """Bars from the threshold (or the lowest score, if lower) up to 100%."""
    bars = "▁▂▃▄▅▆▇█"
    low = min(min(values), threshold)
    span = max(1.0 - low, 1e-9)
    return "".join(bars[round((v - low) / span * (len(bars) - 1))] for v in values)


def plot_report(report: list[dict], path: Path) -> Path:
    """One line per table: its daily score over the window, with its threshold dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(11, 6))
    for row in report:
        trend = pl.DataFrame(row["trend"]).with_columns(pl.col("day").str.to_date())
        line = axis.plot(
            trend["day"].to_list(), (trend["score"] * 100).to_list(), marker="o", label=row["table"]
        )[0]
        axis.axhline(row["threshold"] * 100, color=line.get_color(), linestyle=":", alpha=0.4)
    axis.set_title("Quality score per table (share of rows passing its checks)")
    axis.set_ylabel("score (%)")
    axis.set_xlabel("day")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small", ncol=2, loc="lower left")
    figure.autofmt_xdate()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path

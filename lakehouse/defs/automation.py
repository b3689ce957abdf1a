"""Declarative Automation: silver and gold partitions follow the bronze partitions they read.

We use `AutomationCondition`s rather than asset sensors because the condition is evaluated per
partition through the partition mappings: a late bronze arrival day D marks exactly the silver
days D-3 .. D it feeds (and, through them, their sessions and gold days), wherever they lie in
time. Dagster's `eager()` only looks at the latest time window and waits for every dependency
partition to exist, which would leave older days stale and hold each day back until its whole
3-day late window had arrived; this condition does neither.

Gold facts ignore updates of the unpartitioned dimensions: a customer changing would otherwise
rebuild every day of `gold/fact_sales`. The daily schedule and `lakehouse build --full` refresh
them when wanted.
"""

from collections.abc import Sequence

import dagster as dg

AC = dg.AutomationCondition

#: Run tag of runs that follow new bronze rows (automation's, a `--watch` round's): a silver day
#: computed before takes only the rows appended since (`quality.audited.publish_new_rows`).
NEW_ROWS_TAG = "lakehouse/new_rows"


def follow_updates(ignore: Sequence[dg.AssetKey] = ()) -> dg.AutomationCondition:
    """Request a partition once any partition it reads was updated since it was last handled,
    unless a dependency or the partition itself is still being computed."""
    updated = AC.any_deps_updated()
    if ignore:
        updated = updated.ignore(dg.AssetSelection.assets(*ignore))
    return (
        updated.since_last_handled() & ~AC.any_deps_in_progress() & ~AC.in_progress()
    ).with_label("dependencies updated (late windows included)")


def automation_sensor(interval_seconds: int) -> dg.AutomationConditionSensorDefinition:
    """The sensor that evaluates the conditions above (instead of Dagster's implicit default,
    so its name and interval are ours)."""
    return dg.AutomationConditionSensorDefinition(
        "lakehouse_automation",
        target=dg.AssetSelection.all(),
        minimum_interval_seconds=interval_seconds,
        run_tags={NEW_ROWS_TAG: "true"},
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Brings silver and gold partitions up to date after bronze changes.",
    )

"""Sensors: quality alerts from the lake's quality history."""

import datetime as dt

import dagster as dg

from lakehouse.defs.resources import AlertWebhookResource, LakeResource
from lakehouse.quality.alerts import find_alerts, post_webhook, record_alerts


@dg.sensor(
    name="quality_alerts",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts when a table's daily quality score drops below its threshold or an "
    "ERROR check fails: an alert record in the lake, a log line, and a webhook POST.",
)
def quality_alert_sensor(
    context: dg.SensorEvaluationContext, lake: LakeResource, alert_webhook: AlertWebhookResource
) -> dg.SkipReason:
    since = dt.datetime.fromisoformat(context.cursor) if context.cursor else None
    store = lake.store()
    alerts, newest = find_alerts(store, since)
    statuses = []
    for alert in alerts:
        context.log.warning(f"quality alert: {alert.message}")
        statuses.append(post_webhook(alert_webhook.url, alert) if alert_webhook.url else "not sent")
    record_alerts(store, alerts, statuses)
    if newest is not None:
        context.update_cursor(newest.isoformat())
    return dg.SkipReason(
        f"{len(alerts)} alert(s) raised" if alerts else "no table below its quality threshold"
    )

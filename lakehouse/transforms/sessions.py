"""silver/sessions: a new session starts after `SESSION_GAP` without events from the user.

Written in DuckDB SQL: sessionizing sorts three days of events by user, and DuckDB's windows and
aggregates stay within its memory limit (spilling past it) where Polars sorts in memory.
"""

from __future__ import annotations

import datetime as dt

SESSION_GAP = dt.timedelta(minutes=30)


def sessionize(events: str, session_day: dt.date) -> str:
    """A query of the sessions starting on `session_day`, in the order they are stored.

    `events` is a DuckDB table expression of silver app_events that must include the
    neighbouring days, so sessions crossing midnight are seen whole.
    """
    gap = int(SESSION_GAP.total_seconds())
    return f"""
        WITH marked AS (
            SELECT user_id, event_ts, event_type, device, event_id,
                coalesce(
                    event_ts - lag(event_ts) OVER by_user > to_seconds({gap}), true
                ) AS new_session
            FROM {events}
            WINDOW by_user AS (PARTITION BY user_id ORDER BY event_ts, event_id)
        ),
        numbered AS (
            SELECT *, sum(new_session::BIGINT) OVER (
                PARTITION BY user_id ORDER BY event_ts, event_id ROWS UNBOUNDED PRECEDING
            ) AS session_number
            FROM marked
        ),
        sessions AS (
            SELECT user_id,
                min(event_ts) AS session_start,
                max(event_ts) AS session_end,
                count(*)::BIGINT AS events,
                bool_or(event_type = 'purchase') AS converted,
                first(device ORDER BY event_ts, event_id) AS device
            FROM numbered
            GROUP BY user_id, session_number
        )
        SELECT
            user_id || '-' || epoch_ms(session_start)::VARCHAR AS session_id,
            user_id,
            session_start,
            session_end,
            (epoch_us(session_end) - epoch_us(session_start))::DOUBLE / 1e6::DOUBLE AS duration_s,
            events,
            converted,
            device
        FROM sessions
        WHERE (session_start AT TIME ZONE 'UTC')::DATE = DATE '{session_day.isoformat()}'
        ORDER BY session_start, user_id
    """

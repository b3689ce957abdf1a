"""silver/sessions: a new session starts after `SESSION_GAP` without events from the user.

Written in DuckDB SQL: sessionizing sorts the events by user, and DuckDB's windows and
aggregates stay within its memory limit (spilling past it) where Polars sorts in memory.

A range of session days is computed in one pass. Before the range only the last `SESSION_GAP`
of the previous day matters (an event further back cannot continue a session into the range);
after it, the whole next day (a session started on the range's last day may run past midnight).
So the windows see each event about once, not three times as a day-by-day rebuild would.
"""

from __future__ import annotations

import datetime as dt

SESSION_GAP = dt.timedelta(minutes=30)


def sessionize(events: str, first_day: dt.date, last_day: dt.date | None = None) -> str:
    """A query of the sessions starting on `first_day` .. `last_day` (default: that one day),
    with their `session_date`, in the order they are stored (by day, start and user).

    `events` is a DuckDB table expression of silver app_events that must include the day
    before the range and the day after it, so sessions crossing midnight are seen whole.
    """
    last_day = last_day or first_day
    gap = int(SESSION_GAP.total_seconds())
    windowed = _windowed(first_day, last_day)
    return f"""
        WITH marked AS (
            SELECT user_id, event_ts, event_type, device, event_id,
                coalesce(
                    event_ts - lag(event_ts) OVER by_user > to_seconds({gap}), true
                ) AS new_session
            FROM {events}
            WHERE {windowed}
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
            device,
            (session_start AT TIME ZONE 'UTC')::DATE AS session_date
        FROM sessions
        WHERE session_date BETWEEN DATE '{first_day.isoformat()}' AND DATE '{last_day.isoformat()}'
        ORDER BY session_date, session_start, user_id
    """


def windowed_events(events: str, first_day: dt.date, last_day: dt.date) -> str:
    """A query of how many events the sessions of the range see (`windowed`) and how many
    fall on its days (`events`): their ratio is the sessions' read amplification."""
    start, end = _midnight(first_day), _midnight(last_day + dt.timedelta(days=1))
    return f"""
        SELECT count(*) FILTER (WHERE {_windowed(first_day, last_day)}) AS windowed,
               count(*) FILTER (WHERE event_ts >= {start} AND event_ts < {end}) AS events
        FROM {events}
    """


def _windowed(first_day: dt.date, last_day: dt.date) -> str:
    """The events sessions of `first_day` .. `last_day` need: from `SESSION_GAP` before the
    range to the end of the day after it."""
    gap = int(SESSION_GAP.total_seconds())
    start, end = _midnight(first_day), _midnight(last_day + dt.timedelta(days=2))
    return f"event_ts >= {start} - to_seconds({gap}) AND event_ts < {end}"


def _midnight(day: dt.date) -> str:
    return f"TIMESTAMPTZ '{day.isoformat()} 00:00:00+00'"

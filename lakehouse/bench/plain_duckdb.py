"""The 14 lake tables built with plain DuckDB SQL: the baseline the whole graph is priced against.

What a competent data engineer hand-writes as a dbt-duckdb project computing the same tables:
one DuckDB connection with the bench's threads and memory limit, one SQL statement per table,
each written as hive-partitioned zstd Parquet by `COPY ... PARTITION_BY` (an unpartitioned
table as one file) and read back by the later statements through a view, as dbt-duckdb's
external materialization does. The landing files are read with `read_json` / `read_csv`; the
rows our quality rules send to quarantine are left out by the same predicates in SQL. No
quarantine tables, audits, Delta log, atomic publish or line numbers: the work the framework
adds, which the comparison prices.

Each table has our row count (`lakehouse_tests/test_plain_duckdb.py` checks it), with these
differences in principle, which the generated samples never exercise:

- bronze: typed fields of JSON lines are read as text and `TRY_CAST`, and a line whose value
  does not cast is dropped, as ours rejects it (typed `read_json` columns with `ignore_errors`
  would silently make the value NULL and keep the line). A line that is not a JSON object
  with at least one contract field is dropped: so is `{}`, which ours keeps as a row of NULLs.
  read_json numbers no lines, so bronze has no `_source_line` (nor `_extra`), and where ours
  breaks a tie between exact copies by line number any copy is kept.
- silver.sessions is sessionized over all events at once; ours sessionizes blocks of up to 14
  days with the day after each, so a session of more than a day without a 30-minute gap that
  crosses a block's end holds fewer events there. The sessions, and so their count, are the
  same.
- customer_sk is a 56-bit DuckDB `hash` of (customer_id, valid_from), not our BLAKE2b.
- The first partition (the late window's lower bound) and the days of daily_summary are the
  landing folder's first to last arrival day: ours start at the configured start date, which
  the bench and the tests set to the first landing day.

The measured process imports DuckDB and the standard library alone, as a dbt-duckdb run would:
it is run as a script (`command`), since `python -m lakehouse.bench...` would import the
`lakehouse` package and with it Dagster (about 1 s and 40 MB), and the business constants are
spelled out here, as a dbt project has them in its SQL (the contract would bring Polars); the
test checks they equal the lake's.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import sys
import time
from pathlib import Path

import duckdb

EVENT_TYPES = ("page_view", "search", "add_to_cart", "purchase", "login", "logout", "error")
DEVICES = ("ios", "android", "web")
ORDER_STATUSES = ("placed", "paid", "shipped", "cancelled", "refunded")
REVENUE_STATUSES = ("paid", "shipped")
CDC_OPS = ("c", "u", "d")
USD_PER_UNIT = {
    "USD": "1",
    "EUR": "1.08",
    "GBP": "1.27",
    "JPY": "0.0067",
    "CHF": "1.13",
    "CAD": "0.73",
    "AUD": "0.66",
    "SEK": "0.095",
}
#: Landing file names per source (`landing/<source>/<arrival date>/<file>`).
PATTERNS = {
    "app_events": ("events-*.jsonl.gz", "events-*.jsonl"),
    "orders": ("orders-*.csv",),
    "customers": ("cdc-*.jsonl", "cdc-*.jsonl.gz"),
    "products": ("products.csv",),
}
LATE_ARRIVAL_DAYS = 3
SESSION_GAP_MINUTES = 30
#: How a measured child hands its figures back (`lakehouse.bench.probe.RESULT_PREFIX`).
RESULT_PREFIX = "BENCH-RESULT "

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _values(values) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def _arrival_date(column: str = "filename") -> str:
    """The arrival date: the name of the file's date folder."""
    return f"regexp_extract({column}, '/(\\d{{4}}-\\d{{2}}-\\d{{2}})/[^/]+$', 1)::DATE"


# -- bronze: landing files, typed, by arrival date ------------------------------------------

BRONZE_APP_EVENTS = f"""
    SELECT event_id, user_id, event_type, TRY_CAST(event_ts AS TIMESTAMPTZ) AS event_ts,
        device, app_version, TRY_CAST(latency_ms AS BIGINT) AS latency_ms, properties,
        filename AS _source_file, {_arrival_date()} AS arrival_date
    FROM read_json(getvariable('app_events_files'), format = 'newline_delimited',
        filename = true, ignore_errors = true, columns = {{
            event_id: 'VARCHAR', user_id: 'VARCHAR', event_type: 'VARCHAR',
            event_ts: 'VARCHAR', device: 'VARCHAR', app_version: 'VARCHAR',
            latency_ms: 'VARCHAR', properties: 'JSON'}})
    WHERE coalesce(event_id, user_id, event_type, event_ts, device, app_version, latency_ms,
            properties::VARCHAR) IS NOT NULL
        AND (event_ts IS NULL OR TRY_CAST(event_ts AS TIMESTAMPTZ) IS NOT NULL)
        AND (latency_ms IS NULL OR TRY_CAST(latency_ms AS BIGINT) IS NOT NULL)
"""

BRONZE_ORDERS = f"""
    SELECT order_id, customer_id, product_id, quantity, unit_price, currency, status, order_ts,
        updated_at, filename AS _source_file, {_arrival_date()} AS arrival_date
    FROM read_csv(getvariable('orders_files'), header = true, union_by_name = true,
        filename = true, ignore_errors = true, types = {{
            order_id: 'VARCHAR', customer_id: 'VARCHAR', product_id: 'VARCHAR',
            quantity: 'BIGINT', unit_price: 'DECIMAL(18, 2)', currency: 'VARCHAR',
            status: 'VARCHAR', order_ts: 'TIMESTAMPTZ', updated_at: 'TIMESTAMPTZ'}})
"""

BRONZE_CUSTOMERS_CDC = f"""
    SELECT op, customer_id, email, name, country, segment,
        TRY_CAST(updated_at AS TIMESTAMPTZ) AS updated_at,
        filename AS _source_file, {_arrival_date()} AS arrival_date
    FROM read_json(getvariable('customers_files'), format = 'newline_delimited',
        filename = true, ignore_errors = true, columns = {{
            op: 'VARCHAR', customer_id: 'VARCHAR', email: 'VARCHAR', name: 'VARCHAR',
            country: 'VARCHAR', segment: 'VARCHAR', updated_at: 'VARCHAR'}})
    WHERE coalesce(op, customer_id, email, name, country, segment, updated_at) IS NOT NULL
        AND (updated_at IS NULL OR TRY_CAST(updated_at AS TIMESTAMPTZ) IS NOT NULL)
"""

BRONZE_PRODUCTS = f"""
    SELECT product_id, name, category, list_price, currency, active,
        filename AS _source_file, {_arrival_date()} AS arrival_date
    FROM read_csv(getvariable('products_files'), header = true, union_by_name = true,
        filename = true, ignore_errors = true, types = {{
            product_id: 'VARCHAR', name: 'VARCHAR', category: 'VARCHAR',
            list_price: 'DECIMAL(18, 2)', currency: 'VARCHAR', active: 'BOOLEAN'}})
"""

# -- silver -----------------------------------------------------------------------------------

#: A value's date within the late window of its arrival, on or after the first day.
_IN_LATE_WINDOW = (
    f"BETWEEN greatest(arrival_date - {LATE_ARRIVAL_DAYS}, getvariable('first_day')) "
    "AND arrival_date"
)

SILVER_APP_EVENTS = f"""
    SELECT event_id, user_id, event_type, event_ts, device, app_version, latency_ms, properties,
        arrival_date, event_ts::DATE < arrival_date AS is_late, _source_file,
        event_ts::DATE AS event_date
    FROM bronze_app_events
    WHERE event_id IS NOT NULL AND event_ts IS NOT NULL AND user_id IS NOT NULL
        AND event_ts::DATE {_IN_LATE_WINDOW}
        AND event_type IN {_values(EVENT_TYPES)}
        AND (device IS NULL OR device IN {_values(DEVICES)})
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY arrival_date, _source_file) = 1
"""

SILVER_ORDERS = f"""
    SELECT order_id, customer_id, product_id, quantity, unit_price, currency, status, order_ts,
        updated_at, amount, usd_per_unit,
        round(amount::DECIMAL(38, 2) * usd_per_unit, 2)::DECIMAL(18, 2) AS amount_usd,
        count(*) OVER (PARTITION BY order_id) AS versions, _source_file,
        order_ts::DATE AS order_date
    FROM (
        SELECT *, (quantity * unit_price)::DECIMAL(18, 2) AS amount
        FROM bronze_orders JOIN fx_rates USING (currency)
    )
    WHERE order_id IS NOT NULL AND order_ts IS NOT NULL AND updated_at IS NOT NULL
        AND customer_id IS NOT NULL AND product_id IS NOT NULL
        AND order_ts::DATE {_IN_LATE_WINDOW}
        AND quantity > 0 AND unit_price >= 0
        AND status IN {_values(ORDER_STATUSES)}
        AND updated_at >= order_ts
    QUALIFY row_number() OVER (
        PARTITION BY order_id ORDER BY updated_at DESC, arrival_date DESC, _source_file DESC
    ) = 1
"""

#: The CDC changes our rules accept: an ephemeral dbt model, a CTE of the two tables using it.
CUSTOMER_CHANGES = f"""customer_changes AS (
        SELECT * FROM bronze_customers_cdc
        WHERE customer_id IS NOT NULL AND updated_at IS NOT NULL AND op IN {_values(CDC_OPS)}
    )"""

SILVER_CUSTOMERS = f"""
    WITH {CUSTOMER_CHANGES}
    SELECT customer_id, email, name, country, segment, created_at, updated_at, versions
    FROM (
        SELECT *,
            min(updated_at) OVER (PARTITION BY customer_id) AS created_at,
            count(*) OVER (PARTITION BY customer_id) AS versions
        FROM customer_changes
        QUALIFY row_number() OVER (
            PARTITION BY customer_id
            ORDER BY updated_at DESC, arrival_date DESC, _source_file DESC
        ) = 1
    )
    WHERE op <> 'd'
"""

SILVER_PRODUCTS = """
    SELECT product_id, name, category, list_price, currency, active, arrival_date AS snapshot_date
    FROM bronze_products
    WHERE arrival_date = (SELECT max(arrival_date) FROM bronze_products)
        AND product_id IS NOT NULL AND list_price >= 0
    QUALIFY row_number() OVER (PARTITION BY product_id ORDER BY _source_file DESC) = 1
"""

SILVER_SESSIONS = f"""
    WITH marked AS (
        SELECT user_id, event_ts, event_type, device, event_id,
            coalesce(
                event_ts - lag(event_ts) OVER by_user > INTERVAL {SESSION_GAP_MINUTES} MINUTE,
                true
            ) AS new_session
        FROM silver_app_events
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
            count(*) AS events,
            bool_or(event_type = 'purchase') AS converted,
            first(device ORDER BY event_ts, event_id) AS device
        FROM numbered
        GROUP BY user_id, session_number
    )
    SELECT user_id || '-' || epoch_ms(session_start)::VARCHAR AS session_id, user_id,
        session_start, session_end,
        (epoch_us(session_end) - epoch_us(session_start)) / 1e6 AS duration_s,
        events, converted, device, session_start::DATE AS session_date
    FROM sessions
"""

# -- gold -------------------------------------------------------------------------------------

GOLD_DIM_CUSTOMER = f"""
    WITH {CUSTOMER_CHANGES}
    SELECT (hash(customer_id, updated_at) >> 8)::BIGINT AS customer_sk,
        customer_id, email, name, country, segment,
        updated_at AS valid_from, valid_to, valid_to IS NULL AS is_current,
        coalesce(next_op = 'd', false) AS is_deleted
    FROM (
        SELECT *,
            lead(updated_at) OVER by_customer AS valid_to,
            lead(op) OVER by_customer AS next_op
        FROM customer_changes
        WINDOW by_customer AS (
            PARTITION BY customer_id ORDER BY updated_at, arrival_date, _source_file
        )
    )
    WHERE op <> 'd'
"""

GOLD_FACT_SALES = f"""
    WITH first_versions AS (
        SELECT customer_id, arg_min(customer_sk, valid_from) AS first_sk
        FROM gold_dim_customer
        GROUP BY customer_id
    )
    SELECT o.order_id, o.order_ts, o.customer_id,
        coalesce(version.customer_sk, first_versions.first_sk) AS customer_sk,
        o.product_id, p.category AS product_category, o.quantity, o.unit_price, o.currency,
        o.amount, o.amount_usd, o.status, o.status IN {_values(REVENUE_STATUSES)} AS is_revenue,
        o.order_date
    FROM silver_orders AS o
    ASOF LEFT JOIN gold_dim_customer AS version
        ON o.customer_id = version.customer_id AND o.order_ts >= version.valid_from
    JOIN first_versions ON o.customer_id = first_versions.customer_id
    JOIN silver_products AS p ON o.product_id = p.product_id
    WHERE p.category IS NOT NULL
"""

GOLD_DAILY_SUMMARY = """
    WITH days AS (
        SELECT unnest(generate_series(
            getvariable('first_day'), getvariable('last_day'), INTERVAL 1 DAY
        ))::DATE AS summary_date
    ),
    sales AS (
        SELECT order_date AS summary_date,
            sum(amount_usd) FILTER (WHERE is_revenue) AS revenue_usd,
            count(*) AS orders,
            count(*) FILTER (WHERE is_revenue) AS revenue_orders
        FROM gold_fact_sales
        GROUP BY ALL
    ),
    users AS (
        SELECT event_date AS summary_date, count(DISTINCT user_id) AS active_users
        FROM silver_app_events
        GROUP BY ALL
    ),
    visits AS (
        SELECT session_date AS summary_date,
            count(*) AS sessions,
            count(*) FILTER (WHERE converted) AS converted_sessions
        FROM silver_sessions
        GROUP BY ALL
    ),
    new AS (
        SELECT first_seen::DATE AS summary_date, count(*) AS new_customers
        FROM (SELECT min(valid_from) AS first_seen FROM gold_dim_customer GROUP BY customer_id)
        GROUP BY ALL
    )
    SELECT coalesce(revenue_usd, 0)::DECIMAL(18, 2) AS revenue_usd,
        coalesce(orders, 0) AS orders,
        coalesce(revenue_orders, 0) AS revenue_orders,
        average_cents(revenue_usd, revenue_orders) AS avg_order_value_usd,
        coalesce(active_users, 0) AS active_users,
        coalesce(sessions, 0) AS sessions,
        coalesce(converted_sessions, 0) AS converted_sessions,
        CASE WHEN sessions > 0 THEN converted_sessions / sessions END AS conversion_rate,
        coalesce(new_customers, 0) AS new_customers,
        summary_date
    FROM days
    LEFT JOIN sales USING (summary_date)
    LEFT JOIN users USING (summary_date)
    LEFT JOIN visits USING (summary_date)
    LEFT JOIN new USING (summary_date)
"""

GOLD_EVENT_METRICS_HOURLY = """
    WITH hourly AS (
        SELECT *, date_trunc('hour', event_ts) AS hour FROM silver_app_events
    ),
    per_hour AS (
        SELECT hour,
            count(*) AS hour_events,
            count(*) FILTER (WHERE event_type = 'error') AS hour_errors
        FROM hourly
        GROUP BY hour
    )
    SELECT hour, event_type,
        count(*) AS events,
        count(DISTINCT user_id) AS users,
        hour_events, hour_errors, hour_errors / hour_events AS error_rate,
        quantile_cont(latency_ms, 0.5) AS latency_p50_ms,
        quantile_cont(latency_ms, 0.95) AS latency_p95_ms,
        event_date
    FROM hourly JOIN per_hour USING (hour)
    GROUP BY hour, event_type, hour_events, hour_errors, event_date
"""

GOLD_USER_SEGMENTS = """
    WITH as_of AS (
        SELECT max(session_start::DATE) AS as_of_date FROM silver_sessions
    ),
    visits AS (
        SELECT user_id,
            coalesce(sum(events) FILTER (WHERE age < 30), 0)::BIGINT AS events_30d,
            count(*) FILTER (WHERE age < 30) AS sessions_30d,
            count(*) FILTER (WHERE age < 7) AS sessions_7d
        FROM (
            SELECT user_id, events, as_of_date - session_start::DATE AS age
            FROM silver_sessions, as_of
        )
        GROUP BY user_id
    ),
    purchases AS (
        SELECT customer_id AS user_id,
            max(order_ts)::DATE AS last_order,
            count(*) AS frequency,
            sum(amount_usd) AS monetary_usd
        FROM gold_fact_sales
        WHERE is_revenue
        GROUP BY customer_id
    ),
    scored AS (
        SELECT user_id, as_of_date,
            as_of_date - last_order AS recency_days,
            coalesce(frequency, 0) AS frequency,
            coalesce(monetary_usd, 0)::DECIMAL(18, 2) AS monetary_usd,
            coalesce(events_30d, 0) AS events_30d,
            coalesce(sessions_30d, 0) AS sessions_30d,
            round(100 * (0.6 * least(coalesce(sessions_30d, 0) / 20, 1.0)
                + 0.4 * least(coalesce(events_30d, 0) / 200, 1.0)), 1) AS engagement_score,
            coalesce(sessions_7d, 0) = 0
                AND (last_order IS NULL OR as_of_date - last_order > 14) AS churn_risk
        FROM visits FULL JOIN purchases USING (user_id), as_of
    )
    SELECT *,
        CASE
            WHEN churn_risk THEN 'at_risk'
            WHEN frequency >= 3 AND recency_days <= 7 THEN 'champion'
            WHEN frequency >= 2 THEN 'loyal'
            WHEN frequency = 1 THEN 'customer'
            ELSE 'browser'
        END AS segment
    FROM scored
"""

#: (layer, name, partition column or None, query), in build order.
TABLES = (
    ("bronze", "app_events", "arrival_date", BRONZE_APP_EVENTS),
    ("bronze", "orders", "arrival_date", BRONZE_ORDERS),
    ("bronze", "customers_cdc", "arrival_date", BRONZE_CUSTOMERS_CDC),
    ("bronze", "products", "arrival_date", BRONZE_PRODUCTS),
    ("silver", "app_events", "event_date", SILVER_APP_EVENTS),
    ("silver", "orders", "order_date", SILVER_ORDERS),
    ("silver", "customers", None, SILVER_CUSTOMERS),
    ("silver", "products", None, SILVER_PRODUCTS),
    ("silver", "sessions", "session_date", SILVER_SESSIONS),
    ("gold", "dim_customer", None, GOLD_DIM_CUSTOMER),
    ("gold", "fact_sales", "order_date", GOLD_FACT_SALES),
    ("gold", "daily_summary", "summary_date", GOLD_DAILY_SUMMARY),
    ("gold", "event_metrics_hourly", "event_date", GOLD_EVENT_METRICS_HOURLY),
    ("gold", "user_segments", None, GOLD_USER_SEGMENTS),
)

SETUP = f"""
    SET TimeZone = 'UTC';
    CREATE TABLE fx_rates (currency VARCHAR, usd_per_unit DECIMAL(18, 6));
    INSERT INTO fx_rates VALUES {", ".join(f"('{c}', {r})" for c, r in USD_PER_UNIT.items())};
    -- total / n rounded half away from zero to cents, exactly: DuckDB divides decimals in
    -- DOUBLE, so the quotient is taken in whole cents.
    CREATE MACRO average_cents(total, n) AS CASE WHEN n > 0 THEN
        ((2 * (total * 100)::HUGEINT + n) // (2 * n) * 0.01)::DECIMAL(18, 2) END;
"""


def landing_files(landing: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Each source's files (`<source>/<day>/<name>` matching its patterns) and the arrival
    days present in the landing folder, as `lakehouse build` finds them."""
    files: dict[str, list[str]] = {}
    days: set[str] = set()
    for source, patterns in PATTERNS.items():
        files[source] = []
        for folder in sorted((landing / source).glob("*")):
            if not (folder.is_dir() and _DAY.fullmatch(folder.name)):
                continue
            days.add(folder.name)
            files[source] += [
                str(path)
                for path in sorted(folder.iterdir())
                if not path.name.startswith((".", "_"))
                and any(fnmatch.fnmatchcase(path.name, pattern) for pattern in patterns)
            ]
    return files, sorted(days)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def build(landing: Path, out: Path, threads: int, memory_limit: str) -> dict[str, int]:
    """Every table from the landing folder into `out/<layer>/<name>` (whatever `out` held is
    removed first); rows written per table, by qualified name."""
    files, days = landing_files(landing)
    if not days:
        raise ValueError(f"{landing} holds no arrival days")
    shutil.rmtree(out, ignore_errors=True)
    spill = out / "_spill"
    spill.mkdir(parents=True)
    rows: dict[str, int] = {}
    config = {"threads": threads, "memory_limit": memory_limit, "temp_directory": str(spill)}
    with duckdb.connect(config=config) as con:
        con.execute(SETUP)
        for source, paths in files.items():
            con.execute(f"SET VARIABLE {source}_files = $paths", {"paths": paths})
        con.execute(f"SET VARIABLE first_day = DATE '{days[0]}'")
        con.execute(f"SET VARIABLE last_day = DATE '{days[-1]}'")
        for layer, name, partition, query in TABLES:
            folder = out / layer / name
            folder.parent.mkdir(exist_ok=True)
            if partition is None:
                folder.mkdir()
                target = _literal(str(folder / "data.parquet"))
                options = "FORMAT parquet, COMPRESSION zstd"
                source = f"read_parquet({target})"
            else:
                target = _literal(str(folder))
                options = f"FORMAT parquet, PARTITION_BY ({partition}), COMPRESSION zstd"
                source = (
                    f"read_parquet({_literal(str(folder / '*' / '*.parquet'))}, "
                    f"hive_partitioning = true, hive_types = {{{partition}: 'DATE'}})"
                )
            (written,) = con.execute(f"COPY ({query}) TO {target} ({options})").fetchone()
            rows[f"{layer}.{name}"] = int(written)
            con.execute(f"CREATE VIEW {layer}_{name} AS SELECT * FROM {source}")
    shutil.rmtree(spill, ignore_errors=True)
    return rows


def command(landing: Path, out: Path, threads: int, memory_limit: str) -> list[str]:
    """The child process that runs `build` and reports its rows and seconds to `probe.measure`."""
    return [sys.executable, __file__, str(landing), str(out), str(threads), memory_limit]


def main(argv: list[str]) -> None:
    landing, out, threads, memory_limit = argv
    started = time.perf_counter()
    rows = build(Path(landing), Path(out), int(threads), memory_limit)
    figures = {"rows": rows, "seconds": time.perf_counter() - started}
    print(RESULT_PREFIX + json.dumps(figures), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

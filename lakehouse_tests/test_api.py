"""The HTTP API (`lakehouse serve`): one real server per module on a loopback port, over a copy
of the built lake, called with httpx; tokens made by the real CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import polars as pl
import psutil
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lakehouse.api.rows import Cursor
from lakehouse.api.tokens import TokenStore
from lakehouse.storage import LakeStore
from lakehouse.tables import GOLD_DIM_CUSTOMER, GOLD_FACT_SALES, GOVERNANCE_API_REQUESTS
from lakehouse_tests.servers import free_port, project_env, stop_tree, wait_for, wait_for_port


@dataclass
class Api:
    url: str
    root: Path
    store: LakeStore
    tokens: dict[str, str]

    def client(self, token: str | None = None, **options) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **options)

    def analyst(self) -> httpx.Client:
        return self.client(self.tokens["analyst"])

    def engineer(self) -> httpx.Client:
        return self.client(self.tokens["engineer"])


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lakehouse.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def create_token(env: dict[str, str], name: str, role: str) -> str:
    return cli(env, "token", "create", "--role", role, "--name", name).stdout.splitlines()[-1]


@pytest.fixture(scope="module")
def api(built_lake, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("api")
    shutil.copytree(built_lake.lake, root / "lake")
    env = {
        **project_env(),
        "LAKEHOUSE_DATA_DIR": str(root),
        "LAKEHOUSE_API_AUDIT_FLUSH_SECONDS": "1",
        "LAKEHOUSE_API_QUERY_TIMEOUT_SECONDS": "5",
        # The runs that built the lake, for the run metrics.
        "DAGSTER_HOME": built_lake.instance.root_directory,
    }
    tokens = {role: create_token(env, f"{role}_1", role) for role in ("analyst", "engineer")}
    port = free_port()
    log = (root / "server.log").open("ab")
    server = subprocess.Popen(
        [sys.executable, "-m", "lakehouse.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, 60, "lakehouse serve")
        yield Api(f"http://127.0.0.1:{port}", root, LakeStore.local(root / "lake"), tokens)
    finally:
        stop_tree(server)
        log.close()
    # Stopped gracefully (uvicorn then ends by the signal it got): the audit log flushed.
    assert "Application shutdown complete" in (root / "server.log").read_text()


def test_health_needs_no_token_and_docs_are_served(api):
    with api.client() as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert "/tables/{table}/rows" in client.get("/openapi.json").json()["paths"]
        assert client.get("/docs").status_code == 200


def test_missing_or_bad_tokens_are_401(api):
    with api.client() as client:
        assert client.get("/tables").status_code == 401
        assert client.get("/tables", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert client.get("/tables", headers={"Authorization": "Basic abc"}).status_code == 401
        response = client.get("/tables/gold.fact_sales/rows")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


def test_revoked_and_expired_tokens_are_refused(api):
    env = {**project_env(), "LAKEHOUSE_DATA_DIR": str(api.root)}
    token = create_token(env, "short_lived", "analyst")
    with api.client(token) as client:
        assert client.get("/tables").status_code == 200
        assert "short_lived\tanalyst" in cli(env, "token", "list").stdout
        cli(env, "token", "revoke", "short_lived")
        assert client.get("/tables").status_code == 401
    stale = create_token(env, "stale", "analyst")
    # Expired yesterday: the stored expiry moved back, as time would have moved it.
    path = TokenStore(api.root / "api").path
    stored = json.loads(path.read_text())
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    for row in stored["tokens"]:
        if row["name"] == "stale":
            row["expires"] = yesterday.isoformat(timespec="seconds")
    path.write_text(json.dumps(stored))
    with api.client(stale) as client:
        assert client.get("/tables").status_code == 401
    assert "sha256" in path.read_text() and stale not in path.read_text()


def test_roles_see_their_tables(api):
    with api.analyst() as analyst, api.engineer() as engineer:
        seen = {row["name"]: row for row in analyst.get("/tables").json()}
        assert seen and all(name.startswith("gold.") for name in seen)
        fact = seen["gold.fact_sales"]
        assert fact["rows"] == api.store.scan(GOLD_FACT_SALES).select(pl.len()).collect().item()
        assert fact["partitions"] == len(api.store.partition_keys(GOLD_FACT_SALES))
        assert fact["owner"] and fact["last_materialized"]
        everything = {row["name"] for row in engineer.get("/tables").json()}
        assert {"silver.customers", "quarantine.silver.orders"} <= everything
        assert GOVERNANCE_API_REQUESTS.qualified_name in everything
        for path in ("/tables/silver.customers", "/tables/silver.customers/rows"):
            assert analyst.get(path).status_code == 403
            assert engineer.get(path).status_code == 200
        assert analyst.get("/tables/governance.api_requests/rows").status_code == 403


def test_unknown_and_path_like_table_names_are_404(api):
    with api.engineer() as engineer:
        for name in ("gold.nope", "..%2F..%2Fetc%2Fpasswd", "gold%2Ffact_sales", "%2Fetc%2Fpasswd"):
            assert engineer.get(f"/tables/{name}/rows").status_code == 404, name


def test_columns_say_which_are_pii_and_masked(api):
    with api.analyst() as analyst, api.engineer() as engineer:
        columns = {c["name"]: c for c in analyst.get("/tables/gold.dim_customer").json()["columns"]}
        assert columns["email"] == {
            **columns["email"],
            "pii": True,
            "masked": True,
            "mask": "email",
        }
        assert not columns["country"]["pii"]
        described = engineer.get("/tables/gold.dim_customer").json()["columns"]
        assert {c["name"]: c["masked"] for c in described}["email"] is False


def test_pii_is_masked_for_analysts_not_engineers(api):
    expected = api.store.scan(GOLD_DIM_CUSTOMER).sort("customer_sk").collect()
    query = {"limit": 100_000, "columns": "customer_sk,email,name,country"}
    with api.analyst() as analyst, api.engineer() as engineer:
        masked = pl.DataFrame(
            analyst.get("/tables/gold.dim_customer/rows", params=query).json()["rows"]
        )
        plain = pl.DataFrame(
            engineer.get("/tables/gold.dim_customer/rows", params=query).json()["rows"]
        )
        refused = analyst.get("/tables/gold.dim_customer/rows", params={"email": "a@b.c"})
    masked, plain = masked.sort("customer_sk"), plain.sort("customer_sk")
    assert plain["email"].to_list() == expected["email"].to_list()
    assert plain["name"].to_list() == expected["name"].to_list()
    for original, shown, name, initials in zip(
        expected["email"], masked["email"], expected["name"], masked["name"], strict=True
    ):
        assert shown != original and shown.split("@")[1] == original.split("@")[1].lower()
        assert initials == " ".join(word[0].upper() + "." for word in name.split())
    # Stable: the same address masks the same way in every row.
    pairs = pl.DataFrame({"email": expected["email"], "masked": masked["email"]}).unique()
    assert pairs["email"].n_unique() == len(pairs) == pairs["masked"].n_unique()
    assert masked["country"].to_list() == expected["country"].to_list()
    assert refused.status_code == 400 and "masked" in refused.json()["detail"]


def test_filters_and_partition_pruning(api):
    day = api.store.partition_keys(GOLD_FACT_SALES)[1]
    full = api.store.scan(GOLD_FACT_SALES).collect()
    with api.analyst() as analyst:
        rows = analyst.get(
            "/tables/gold.fact_sales/rows",
            params={"order_date": day, "amount_usd__gte": "10", "limit": 100_000},
        ).json()["rows"]
        bad = analyst.get("/tables/gold.fact_sales/rows", params={"quantity": "many"})
        unknown = analyst.get("/tables/gold.fact_sales/rows", params={"nope": "1"})
        bad_day = analyst.get("/tables/gold.fact_sales/rows", params={"order_date__gte": "x"})
    wanted = full.filter(
        (pl.col("order_date") == dt.date.fromisoformat(day)) & (pl.col("amount_usd") >= 10)
    )
    assert len(rows) == len(wanted) > 0
    assert {row["order_date"] for row in rows} == {day}
    assert sorted(row["order_id"] for row in rows) == sorted(wanted["order_id"])
    assert bad.status_code == unknown.status_code == bad_day.status_code == 400


def test_cursor_pages_through_a_table_exactly_once(api):
    full = api.store.scan(GOLD_FACT_SALES).collect()
    seen: list[str] = []
    pages = 0
    cursor = None
    with api.analyst() as analyst:
        while True:
            params = {"limit": 50, "columns": "order_id", **({"cursor": cursor} if cursor else {})}
            body = analyst.get("/tables/gold.fact_sales/rows", params=params).json()
            seen += [row["order_id"] for row in body["rows"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert (
            analyst.get("/tables/gold.fact_sales/rows", params={"cursor": "garbage"}).status_code
            == 400
        )
    assert pages == -(-len(full) // 50) > 2
    assert len(seen) == len(set(seen)) == len(full)
    assert set(seen) == set(full["order_id"])


def test_each_format_is_readable(api, tmp_path):
    day = api.store.partition_keys(GOLD_FACT_SALES)[0]
    expected = api.store.scan(GOLD_FACT_SALES, [day]).collect()
    params = {"order_date": day, "limit": 100_000}
    bodies = {}
    with api.analyst() as analyst:
        for fmt in ("json", "csv", "parquet", "arrow"):
            with analyst.stream(
                "GET", "/tables/gold.fact_sales/rows", params={**params, "format": fmt}
            ) as r:
                assert r.status_code == 200, fmt
                bodies[fmt] = b"".join(r.iter_bytes())
    assert len(json.loads(bodies["json"])["rows"]) == len(expected)
    csv = pl.read_csv(io.BytesIO(bodies["csv"]))
    assert sorted(csv["order_id"]) == sorted(expected["order_id"])
    table = pq.read_table(pa.BufferReader(bodies["parquet"]))
    assert table.num_rows == len(expected) and table.schema.field(
        "amount_usd"
    ).type == pa.decimal128(18, 2)
    arrow = ipc.open_stream(bodies["arrow"]).read_all()
    assert sorted(arrow.column("order_id").to_pylist()) == sorted(expected["order_id"])
    path = tmp_path / "day.parquet"
    path.write_bytes(bodies["parquet"])
    total = duckdb.sql(f"SELECT sum(amount_usd) FROM read_parquet('{path}')").fetchall()[0][0]
    assert total == expected["amount_usd"].sum()
    assert pl.read_parquet(path).height == len(expected)


def test_sql_runs_one_select_over_the_lake(api):
    expected = api.store.scan(GOLD_FACT_SALES).select(pl.len()).collect().item()
    with api.engineer() as engineer, api.analyst() as analyst:
        body = engineer.post(
            "/query", json={"sql": "SELECT count(*) AS n FROM gold.fact_sales"}
        ).json()
        assert body["columns"] == ["n"] and body["rows"] == [[expected]]
        assert analyst.post("/query", json={"sql": "SELECT 1"}).status_code == 403
        capped = engineer.post("/query", json={"sql": "SELECT * FROM range(20000)"}).json()
        assert len(capped["rows"]) == 10_000 and capped["truncated"]


ESCAPES = {
    "read_csv('/etc/passwd')": "SELECT * FROM read_csv('/etc/passwd')",
    "a path as a table": "SELECT * FROM '/etc/passwd'",
    "COPY": "COPY (SELECT 1) TO '{lake}/x.csv'",
    "a write through SELECT's neighbour": "SELECT 1; COPY (SELECT 1) TO '/tmp/x.csv'",
    "ATTACH": "ATTACH '/tmp/other.duckdb' AS other",
    "INSTALL": "INSTALL httpfs",
    "LOAD": "LOAD httpfs",
    "SET": "SET memory_limit = '100GB'",
    "a second statement": "SELECT 1; SELECT 2",
    "CREATE": "CREATE TABLE gold.x AS SELECT 1",
    "a URL": "SELECT * FROM read_parquet('http://127.0.0.1:1/x.parquet')",
    "a lake path outside the views with ..": "SELECT * FROM read_text('{lake}/../server.log')",
}


@pytest.mark.parametrize("name", list(ESCAPES))
def test_sql_escapes_are_refused(api, name):
    sql = ESCAPES[name].replace("{lake}", str(api.root / "lake"))
    with api.engineer() as engineer:
        response = engineer.post("/query", json={"sql": sql})
    assert response.status_code == 400, (name, response.text)
    assert response.json()["detail"]
    assert not (api.root / "lake" / "x.csv").exists()


def test_reads_are_audited_in_the_lake(api):
    with api.engineer() as engineer:
        marker = "SELECT 42 AS audited"
        assert engineer.post("/query", json={"sql": marker}).status_code == 200
        assert engineer.get("/tables/gold.fact_sales/rows", params={"limit": 3}).status_code == 200

    def audited() -> pl.DataFrame:
        return api.store.scan(GOVERNANCE_API_REQUESTS).collect()

    wait_for(lambda: marker in audited()["target"].to_list(), 30, "the audit log flush")
    log = audited()
    query = log.filter(pl.col("target") == marker).row(0, named=True)
    assert query["token"] == "engineer_1" and query["role"] == "engineer"
    assert query["status"] == 200 and query["rows"] == 1 and query["endpoint"] == "query"
    wait_for(
        lambda: (
            not audited().filter((pl.col("endpoint") == "rows") & (pl.col("rows") == 3)).is_empty()
        ),
        30,
        "the rows request in the audit log",
    )
    assert not log.filter(pl.col("status") == 400).is_empty()  # the refused SQL too


def test_metrics_are_prometheus_text(api, built_lake):
    with api.engineer() as engineer:
        engineer.get("/tables")
        text = engineer.get("/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    rows = {
        sample.labels["table"]: sample.value for sample in families["lakehouse_table_rows"].samples
    }
    assert (
        rows["gold.fact_sales"] == api.store.scan(GOLD_FACT_SALES).select(pl.len()).collect().item()
    )
    lag = families["lakehouse_table_freshness_lag_seconds"].samples
    assert all(sample.value >= 0 for sample in lag) and lag
    assert "lakehouse_api_request_duration_seconds" in families
    (run,) = families["lakehouse_run_duration_seconds"].samples
    assert run.labels["status"] == "SUCCESS" and run.value > 0
    assert run.labels["run_id"] == built_lake.result.run_id
    scores = families["lakehouse_table_quality_score"].samples
    assert scores and all(0 <= sample.value <= 1 for sample in scores)
    requests = families["lakehouse_api_requests"].samples
    assert any(s.labels.get("endpoint") == "/tables" and s.value >= 1 for s in requests)


def test_failed_attempts_are_rate_limited(api):
    # From another loopback address: the limit is per client, and the other tests' client
    # (127.0.0.1) is not blocked by this one.
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with api.client("wrong", transport=transport) as client:
        statuses = [client.get("/tables").status_code for _ in range(25)]
    assert statuses[:20] == [401] * 20 and statuses[20:] == [429] * 5
    with api.analyst() as analyst:
        assert analyst.get("/tables").status_code == 200


SCHEMAS_SQL = (
    "SELECT schema_name FROM duckdb_tables() "
    "UNION SELECT schema_name FROM duckdb_views() WHERE NOT internal"
)


def test_analyst_catalog_masks_the_same_way(catalogued, built_lake):
    path = catalogued / "lake" / "catalog_analyst.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        schemas = {row[0] for row in con.execute(SCHEMAS_SQL).fetchall()}
        shown = con.execute("SELECT email, name FROM gold.dim_customer ORDER BY customer_sk")
        shown = shown.fetchall()
        listed = {row[0] for row in con.execute("SELECT name FROM lakehouse.tables").fetchall()}
    assert schemas == {"gold", "lakehouse"}
    expected = built_lake.store.scan(GOLD_DIM_CUSTOMER).sort("customer_sk").collect()
    assert len(shown) == len(expected)
    for (email, name), original, full in zip(
        shown, expected["email"], expected["name"], strict=True
    ):
        assert email != original and email.endswith("@" + original.split("@")[1].lower())
        assert name == " ".join(word[0].upper() + "." for word in full.split())
    assert listed and all(name.startswith("gold.") for name in listed)


DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "lakehouse.json"


def test_every_dashboard_panel_queries_a_served_metric(api):
    with api.engineer() as engineer:
        engineer.get("/tables/gold.nope")  # an error, so the error counter has a sample
        text = engineer.get("/metrics").text
    served = {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    variables = [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    assert len(queries) == len(dashboard["panels"]) > 5
    for query in queries + variables:
        named = set(re.findall(r"\blakehouse_[a-z_]+", query))
        assert named, query
        assert named <= served, f"{query}: {named - served} not served by /metrics"


def test_masks_are_declared_on_pii_columns_only():
    from lakehouse import tables
    from lakehouse.table_spec import Mask, TableSpec

    masked = {spec.qualified_name for spec in tables.ALL_TABLES if spec.masks}
    assert {"gold.dim_customer", "silver.customers", "bronze.reviews"} <= masked
    assert all(spec.pii for spec in tables.ALL_TABLES if spec.masks)
    with pytest.raises(ValueError, match="mask of unknown column"):
        TableSpec("gold", "t", {"a": pl.String()}, pii=True, masks={"b": Mask.NAME})
    with pytest.raises(ValueError, match="not tagged pii"):
        TableSpec("gold", "t", {"a": pl.String()}, masks={"a": Mask.NAME})


def test_token_names_are_unique_and_roles_known(api):
    env = {**project_env(), "LAKEHOUSE_DATA_DIR": str(api.root)}
    command = [sys.executable, "-m", "lakehouse.cli", "token", "create"]
    again = subprocess.run(
        [*command, "--role", "analyst", "--name", "analyst_1"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "exists" in again.stderr
    unknown = subprocess.run(
        [*command, "--role", "admin", "--name", "x"], env=env, capture_output=True, text=True
    )
    assert unknown.returncode != 0 and "admin" in unknown.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli", "token", "revoke", "nobody"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2


def test_a_new_commit_is_served_at_once_not_the_cached_page(api):
    day = api.store.partition_keys(GOLD_FACT_SALES)[-1]
    original = api.store.scan(GOLD_FACT_SALES, [day]).collect()
    params = {"order_date": day, "limit": 100_000}
    with api.analyst() as analyst:
        first = analyst.get("/tables/gold.fact_sales/rows", params=params)
        again = analyst.get("/tables/gold.fact_sales/rows", params=params)
        assert again.headers["x-cache"] == "hit" and again.content == first.content
        assert again.headers["etag"] == first.headers["etag"]
        added = original.head(1).with_columns(pl.lit("ORDER-ADDED-BY-TEST").alias("order_id"))
        api.store.append(GOLD_FACT_SALES, day, added)
        try:
            after = analyst.get("/tables/gold.fact_sales/rows", params=params)
        finally:
            api.store.publish(GOLD_FACT_SALES, day, original)  # the day as the other tests know it
        restored = analyst.get("/tables/gold.fact_sales/rows", params=params)
    assert after.headers["x-cache"] == "miss" and after.headers["etag"] != first.headers["etag"]
    assert int(after.headers["x-table-version"]) > int(first.headers["x-table-version"])
    ids = [row["order_id"] for row in after.json()["rows"]]
    assert "ORDER-ADDED-BY-TEST" in ids and len(ids) == len(original) + 1
    shown = [row["order_id"] for row in restored.json()["rows"]]
    assert sorted(shown) == sorted(original["order_id"])


def test_a_cursor_whose_version_was_vacuumed_is_410_naming_the_fix(api):
    day = api.store.partition_keys(GOLD_FACT_SALES)[1]
    path, params = "/tables/gold.fact_sales/rows", {"order_date": day, "limit": 1}
    rows = api.store.scan(GOLD_FACT_SALES, [day]).collect()
    with api.analyst() as analyst:
        cursor = analyst.get(path, params=params).headers["x-next-cursor"]
        assert analyst.get(path, params={**params, "cursor": cursor}).status_code == 200
        # The same rows republished, and the files of the cursor's version vacuumed.
        api.store.publish(GOLD_FACT_SALES, day, rows)
        assert api.store.vacuum(GOLD_FACT_SALES, retention_hours=0, dry_run=False)
        # (A page read before stays served from memory: a new limit is read from files.)
        expired = analyst.get(path, params={**params, "limit": 2, "cursor": cursor})
        fresh = analyst.get(path, params=params)
        forged = analyst.get(path, params={**params, "cursor": _cursor(10**6, "x.parquet", 0)})
    assert expired.status_code == 410, expired.text
    assert "vacuumed" in expired.json()["detail"] and "without a cursor" in expired.json()["detail"]
    assert fresh.status_code == 200 and len(fresh.json()["rows"]) == 1
    assert forged.status_code == 400


def _cursor(version: int, file: str, row: int) -> str:
    return Cursor(version, file, row).encode()


def test_etag_answers_304_until_the_query_or_role_changes(api):
    day = api.store.partition_keys(GOLD_FACT_SALES)[0]
    params = {"order_date": day, "limit": 10}
    path = "/tables/gold.fact_sales/rows"
    with api.analyst() as analyst, api.engineer() as engineer:
        tag = analyst.get(path, params=params).headers["etag"]
        unchanged = analyst.get(path, params=params, headers={"If-None-Match": tag})
        other_tag = analyst.get(path, params=params, headers={"If-None-Match": '"other"'})
        as_csv = analyst.get(path, params={**params, "format": "csv"})
        fewer = analyst.get(path, params={**params, "limit": 9})
        unmasked = engineer.get(path, params=params, headers={"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == tag
    assert other_tag.status_code == 200 and len(other_tag.json()["rows"]) == 10
    assert len({tag, as_csv.headers["etag"], fewer.headers["etag"]}) == 3
    # Engineers see PII unmasked: another representation, never the analysts' tag.
    assert unmasked.status_code == 200 and unmasked.headers["etag"] != tag

    def audited_304() -> bool:
        log = api.store.scan(GOVERNANCE_API_REQUESTS).collect()
        return not log.filter((pl.col("status") == 304) & (pl.col("role") == "analyst")).is_empty()

    wait_for(audited_304, 30, "the 304 in the audit log")


def test_page_cache_keeps_to_its_byte_budget():
    from lakehouse.api.cache import CachedPage, PageCache

    cache = PageCache(800)  # pages of at most 100 bytes are kept
    for number in range(10):
        assert cache.put(("page", number), CachedPage(b"x" * 100, 1, ()))
    assert cache.size == 800 and len(cache) == 8
    assert cache.get(("page", 0)) is None and cache.get(("page", 1)) is None
    assert cache.get(("page", 2)) is not None  # now the most recently used
    cache.put(("page", 10), CachedPage(b"y" * 100, 1, ()))
    assert cache.get(("page", 2)) is not None and cache.get(("page", 3)) is None
    assert not cache.put(("large",), CachedPage(b"z" * 101, 1, ()))
    assert cache.get(("large",)) is None and cache.size <= 800


def holds_connection(process: psutil.Process, port: int) -> bool:
    """Whether `process` has an accepted connection on `port` open (not the shared listener)."""
    return any(
        c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
        for c in process.net_connections("tcp")
    )


def test_several_worker_processes_serve_and_audit(api):
    env = {
        **project_env(),
        "LAKEHOUSE_DATA_DIR": str(api.root),
        "LAKEHOUSE_API_AUDIT_FLUSH_SECONDS": "1",
    }
    token = create_token(env, "workers_test", "analyst")
    port = free_port()
    log_path = api.root / "workers.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "lakehouse.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    requests = 0
    try:
        wait_for_port(port, 60, "lakehouse serve --workers 2")
        wait_for(
            lambda: log_path.read_text().count("Application startup complete") == 2,
            60,
            "both workers' applications",
        )
        workers = [
            child
            for child in psutil.Process(server.pid).children()
            if any(c.status == psutil.CONN_LISTEN for c in child.net_connections("tcp"))
        ]
        assert len(workers) == 2
        serving: set[int] = set()
        clients = []
        try:
            # New connections, kept open, until each worker holds one (the kernel hands a
            # connection to whichever process accepts first).
            while serving != {worker.pid for worker in workers} and len(clients) < 200:
                client = httpx.Client(
                    base_url=f"http://127.0.0.1:{port}",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60,
                )
                clients.append(client)
                response = client.get("/tables/gold.fact_sales/rows", params={"limit": 5})
                assert response.status_code == 200 and len(response.json()["rows"]) == 5
                requests += 1
                serving = {worker.pid for worker in workers if holds_connection(worker, port)}
        finally:
            for client in clients:
                client.close()
        assert serving == {worker.pid for worker in workers}
    finally:
        stop_tree(server)
    assert log_path.read_text().count("Application shutdown complete") == 2
    # Each process appended its own requests to the one audit table, none lost.
    log = api.store.scan(GOVERNANCE_API_REQUESTS).collect()
    assert log.filter(pl.col("token") == "workers_test").height == requests

"""The FastAPI application: routes, wired to the modules that do the work (auth, roles,
masking, rows, sandbox, audit, metrics). `create_app` builds one over a data root."""

import contextlib
import time
from collections.abc import Iterator
from typing import Annotated, Literal

import anyio.to_thread
import duckdb
from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from lakehouse import settings
from lakehouse.api.audit import AuditLog
from lakehouse.api.auth import Authenticator, FailureLimiter
from lakehouse.api.cache import CachedPage, PageCache, entity_tag, not_modified
from lakehouse.api.filters import BadRequest, parse_filters, reserved_removed
from lakehouse.api.formats import MEDIA_TYPES, encode
from lakehouse.api.metrics import ApiMetrics, LakeCollector
from lakehouse.api.roles import Caller
from lakehouse.api.rows import DEFAULT_LIMIT, MAX_LIMIT, Cursor, page_columns, page_key, read_page
from lakehouse.api.runs import RunCollector
from lakehouse.api.sandbox import run_query
from lakehouse.api.snapshots import Snapshots
from lakehouse.api.stats import TableStats
from lakehouse.api.tokens import TokenStore
from lakehouse.catalog import duckdb_type
from lakehouse.table_spec import TableSpec
from lakehouse.tables import ALL_TABLES

ROW_PARAMETERS = {"limit": None, "cursor": None, "columns": None, "format": None}
TABLES = {spec.qualified_name: spec for spec in ALL_TABLES}
#: The audit status of a response the client stopped reading (nginx's convention).
CLIENT_CLOSED = 499

DESCRIPTION = """Read-only access to the lake. Send `Authorization: Bearer <token>`
(`lakehouse token create`). Analysts read gold tables, PII masked; engineers read every table
unmasked and may run SQL (`POST /query`).

Row filters on `GET /tables/{table}/rows`: `?column=value` (equal), `?column__gte=value`
(also `__gt`, `__lt`, `__lte`); filters on the partition column open only the matching
partitions' files."""


class ObserveMiddleware:
    """Counts each request and times it to its response's first byte, by route (a plain ASGI
    middleware: Starlette's BaseHTTPMiddleware costs a task and a queue per request)."""

    def __init__(self, app, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        observed = False

        async def sending(message) -> None:
            nonlocal observed
            if message["type"] == "http.response.start" and not observed:
                observed = True
                route = scope.get("route")
                self.metrics.observe(
                    getattr(route, "path", "unmatched"),
                    scope["method"],
                    message["status"],
                    time.perf_counter() - started,
                )
            await send(message)

        await self.app(scope, receive, sending)


class QueryBody(BaseModel):
    sql: str


def create_app(layout: settings.DataLayout | None = None) -> FastAPI:
    layout = layout or settings.DataLayout(settings.data_dir())
    store = settings.lake_store(layout)
    stats = TableStats(store)
    registry = CollectorRegistry()
    api_metrics = ApiMetrics(registry)
    registry.register(LakeCollector(stats, ALL_TABLES))
    runs = RunCollector(layout)
    registry.register(runs)
    audit = AuditLog(store, settings.api_audit_flush_seconds())
    authenticate = Authenticator(TokenStore(layout.api), FailureLimiter())
    snapshots = Snapshots(store)
    pages = PageCache(settings.api_cache_bytes())
    reader = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "memory_limit": settings.duckdb_memory_limit(),
            "threads": settings.duckdb_threads(),
            # Lake files are never rewritten in place (new files get new names): their
            # footers can be kept between requests.
            "parquet_metadata_cache": True,
        }
    )
    store.prepare_duckdb(reader)
    reader.execute("SET TimeZone = 'UTC'")
    query_timeout = settings.api_query_timeout_seconds()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        audit.start()
        try:
            yield
        finally:
            audit.close()
            reader.close()
            runs.close()

    app = FastAPI(title="lakehouse", description=DESCRIPTION, lifespan=lifespan)
    app.state.audit = audit
    app.add_middleware(ObserveMiddleware, metrics=api_metrics)
    CallerDep = Annotated[Caller, Depends(authenticate)]

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, error: BadRequest):
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    def readable(name: str, caller: Caller) -> TableSpec:
        spec = TABLES.get(name)
        if spec is None:
            raise HTTPException(404, f"no table {name!r}")
        if not caller.may_read(spec):
            raise HTTPException(403, f"role {caller.role} may not read {name}")
        return spec

    @app.get("/health")
    def health() -> dict[str, str]:
        """Whether the server is up (no token needed)."""
        return {"status": "ok"}

    @app.get("/tables")
    def list_tables(caller: CallerDep) -> list[dict[str, object]]:
        """The tables the caller may read, with owner, partitions, rows and freshness."""
        listed = []
        for spec in ALL_TABLES:
            if not caller.may_read(spec):
                continue
            facts = stats.of(spec) or {}
            listed.append(
                {
                    "name": spec.qualified_name,
                    "layer": spec.path[0],
                    "description": spec.description,
                    "owner": spec.owner,
                    "partition_column": spec.partition_column,
                    "partitions": facts.get("partitions"),
                    "rows": facts.get("rows", 0),
                    "last_materialized": facts.get("last_materialized"),
                }
            )
        return listed

    @app.get("/tables/{table}")
    def describe_table(table: str, caller: CallerDep) -> dict[str, object]:
        """A table's columns: name, type, whether PII and how it is masked for the caller."""
        spec = readable(table, caller)
        return {
            "name": spec.qualified_name,
            "description": spec.description,
            "owner": spec.owner,
            "partition_column": spec.partition_column,
            "pii": spec.pii,
            "columns": [
                {
                    "name": name,
                    "type": duckdb_type(dtype),
                    "pii": name in spec.masks,
                    "masked": caller.masked and name in spec.masks,
                    "mask": spec.masks[name].value if name in spec.masks else None,
                    "description": spec.column_descriptions.get(name, ""),
                }
                for name, dtype in spec.read_schema.items()
            ],
        }

    @app.get("/tables/{table}/rows")
    async def table_rows(
        table: str,
        request: Request,
        caller: CallerDep,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: str | None = None,
        columns: Annotated[str | None, Query(description="comma-separated")] = None,
        format: Literal["json", "csv", "parquet", "arrow"] = "json",
    ) -> Response:
        """A page of rows (`limit`, at most 100,000), streamed as JSON, CSV, Parquet or Arrow
        IPC; the next page's cursor is in the `X-Next-Cursor` header (and JSON's body). The
        `ETag` names the table version and the query: send it back in `If-None-Match` to get
        304 while the table has not changed."""
        started = time.perf_counter()

        def record(status: int, rows: int | None) -> None:
            audit.record(
                token=caller.name,
                role=caller.role,
                endpoint="rows",
                target=table,
                rows=rows,
                status=status,
                seconds=time.perf_counter() - started,
            )

        try:
            spec = readable(table, caller)
            wanted = page_columns(spec, columns)
            params = reserved_removed(request.query_params.multi_items(), ROW_PARAMETERS)
            filters = parse_filters(spec, params, spec.masks if caller.masked else {})
            at = Cursor.decode(cursor) if cursor else None
            version = at.version if at else None
            # Known without reading the log (a stat at most): answered here, on the event loop.
            snapshot = snapshots.known(spec, version)
            if snapshot is None and at is None:
                snapshot = await anyio.to_thread.run_sync(snapshots.current, spec)
            elif snapshot is None:
                snapshot = await anyio.to_thread.run_sync(snapshots.at, spec, version)
            key = page_key(
                spec, snapshot.version, caller.masked, wanted, filters, limit, at, format
            )
            etag = entity_tag(key)
            if not_modified(request.headers.get("if-none-match"), etag):
                record(304, 0)
                return Response(status_code=304, headers={"ETag": etag})
            stored = pages.get(key)
            if stored is not None:
                record(200, stored.rows)
                headers = {**dict(stored.headers), "ETag": etag, "X-Cache": "hit"}
                return Response(stored.body, media_type=MEDIA_TYPES[format], headers=headers)
            page, con = await anyio.to_thread.run_sync(
                plan, spec, snapshot, wanted, filters, limit, at, caller.masked
            )
        except HTTPException as error:
            record(error.status_code, None)
            raise
        except BadRequest as error:
            record(error.status, None)
            raise

        headers = {"X-Next-Cursor": page.next_cursor} if page.next_cursor else {}
        if page.version is not None:
            headers["X-Table-Version"] = str(page.version)

        def body() -> Iterator[bytes]:
            count = 0
            kept: list[bytes] | None = []  # the page's bytes while they may still be cached
            size = 0

            def counted():
                nonlocal count
                for batch in page.batches:
                    count += batch.num_rows
                    yield batch

            try:
                head = {"table": spec.qualified_name, "next_cursor": page.next_cursor}
                for chunk in encode(format, page.schema, counted(), head):
                    if kept is not None:
                        size += len(chunk)
                        if size <= pages.largest:
                            kept.append(chunk)
                        else:
                            kept = None  # too large to keep: streamed only
                    yield chunk
                if kept is not None:
                    pages.put(key, CachedPage(b"".join(kept), count, tuple(headers.items())))
                record(200, count)
            except GeneratorExit:
                record(CLIENT_CLOSED, count)  # the client left mid-stream: rows sent so far
                raise
            except Exception:
                record(500, count)
                raise
            finally:
                con.close()

        return StreamingResponse(
            body(),
            media_type=MEDIA_TYPES[format],
            headers={**headers, "ETag": etag, "X-Cache": "miss"},
        )

    def plan(spec, snapshot, wanted, filters, limit, at, masked):
        """Start reading a page, in a worker thread (DuckDB plans and reads footers)."""
        con = reader.cursor()
        try:
            page = read_page(
                con,
                store,
                spec,
                snapshot,
                columns=wanted,
                filters=filters,
                limit=limit,
                cursor=at,
                masked=masked,
            )
        except BaseException:
            con.close()
            raise
        return page, con

    @app.post("/query")
    def query(caller: CallerDep, payload: Annotated[QueryBody, Body()]) -> dict[str, object]:
        """One SELECT over the lake's views (`gold.fact_sales`, ...), engineers only; at most
        10,000 rows and 10 s (`truncated` says when rows were left off)."""
        started = time.perf_counter()
        status, rows = 200, None
        try:
            if not caller.may_query:
                raise HTTPException(403, f"role {caller.role} may not run SQL")
            result = run_query(store, ALL_TABLES, payload.sql, timeout=query_timeout)
            rows = len(result.rows)
        except HTTPException as error:
            status = error.status_code
            raise
        except BadRequest:
            status = 400
            raise
        finally:
            audit.record(
                token=caller.name,
                role=caller.role,
                endpoint="query",
                target=payload.sql,
                rows=rows,
                status=status,
                seconds=time.perf_counter() - started,
            )
        return {
            "columns": result.columns,
            "types": result.types,
            "rows": [list(row) for row in result.rows],
            "truncated": result.truncated,
        }

    @app.get("/metrics")
    def metrics(caller: CallerDep) -> Response:
        """Prometheus metrics: per table rows, bytes, freshness; API requests and latency."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app

"""The `lakehouse` command: generate sample feeds, build the lake, summarise gold."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from lakehouse import settings

FORMATS = ("table", "csv", "json", "parquet")


def _generate(args: argparse.Namespace) -> int:
    from lakehouse.landing.generator import MANIFEST_NAME, GeneratorConfig, generate

    landing = (
        Path(args.landing) if args.landing else settings.DataLayout(settings.data_dir()).landing
    )
    if (landing / MANIFEST_NAME).exists() and not args.force:
        print(f"{landing} already holds generated data (use --force to write it again)")
        return 0
    config = GeneratorConfig(
        start=dt.date.fromisoformat(args.start),
        days=args.days,
        events_per_day=args.events_per_day,
        seed=args.seed,
    )
    started = time.monotonic()

    def day_written(date: str, number: int) -> None:
        elapsed = time.monotonic() - started
        print(
            f"day {number}/{config.days} ({date}) written, {elapsed:.1f} s",
            file=sys.stderr,
            flush=True,
        )

    manifest = generate(landing, config, day_written)
    events = manifest["sources"]["app_events"]
    print(
        f"wrote {config.days} days to {landing}: {events['lines']:,} event lines, "
        f"{manifest['sources']['orders']['rows']:,} order rows"
    )
    return 0


def _build(args: argparse.Namespace) -> int:
    """`lakehouse build`. SIGTERM stops it like Ctrl-C, in every state: the run in progress is
    marked failed, its slots are freed, and it exits with 128 + the signal's number."""
    from lakehouse.runs.stopping import StopSignals

    with StopSignals() as signals:
        try:
            code = _build_lake(args, signals)
        except KeyboardInterrupt:
            code = 130
        stopped = signals.received()
    if stopped is not None:
        print(f"lakehouse build: stopped by {stopped.name}", file=sys.stderr)
        return 128 + stopped
    return code


def _build_lake(args: argparse.Namespace, signals) -> int:
    layout = settings.DataLayout(settings.data_dir())
    import dagster as dg

    from lakehouse.build import PoolsBusy, execute_run, landing_days, plan_build, wait_for_pools
    from lakehouse.definitions import build_definitions
    from lakehouse.defs.catalog_refresh import refresh_catalog
    from lakehouse.progress import StepProgress, log_path, terminal
    from lakehouse.runs.health import release_dead_runs
    from lakehouse.summary import gold_summary
    from lakehouse.tables import ALL_TABLES

    out = terminal()

    def report(line: str) -> None:
        print(line, file=out, flush=True)

    # A lake written before Delta is rebuilt, not read: say so before planning anything.
    store = settings.lake_store(layout)
    for spec in ALL_TABLES:
        store.delta_table(spec)
    days, odd = landing_days(layout.landing)
    for problem in odd:
        report(f"warning: skipping landing folder {problem}")
    definitions = build_definitions(settings.CodeSettings.from_env())
    graph = definitions.resolve_asset_graph()
    log = log_path(layout.root / "logs", "build")
    report(f"full event log: {log}")
    home = str(settings.dagster_home(layout))
    with log.open("a") as log_file, dg.DagsterInstance.from_config(home) as instance:
        progress = StepProgress(log_file, out, verbose=args.verbose)
        # Runs killed earlier are failed first: their days are planned again.
        for action in release_dead_runs(instance, failed_by="lakehouse build"):
            report(action)
        plan = plan_build(instance, definitions, days, full=args.full)
        if not plan.needed:
            print(f"nothing to materialize: {plan.reason}")
        for run in plan.runs:
            try:
                wait_for_pools(instance, run.pools(graph), args.wait_seconds, report)
            except PoolsBusy as busy:
                report(f"lakehouse build: {busy}")
                return 3
            span = f"{run.first}...{run.last}"
            print(f"materializing {run.selection} for {span} in one run ({run.reason})", flush=True)
            succeeded = execute_run(definitions, instance, run, report, progress=progress)
            if signals.received() is not None:
                report(f"the full event log is in {log}")
                return 1  # `_build` says which signal stopped it
            if not succeeded:
                report(
                    f"lakehouse build: the run for {span} failed; the full event log is in {log}"
                )
                return 1
        print("refreshing the catalog", flush=True)
        built = refresh_catalog(layout, instance)
        if args.watch:

            def run(planned) -> bool:
                return execute_run(definitions, instance, planned, report, progress=progress)

            return _watch(args, definitions, instance, layout, report, signals, run)
    print(gold_summary(settings.lake_store(layout)))
    print(f"catalog: {built.path} ({built.tables} tables); try `lakehouse tables`")
    return 0


def _watch(args, definitions, instance, layout, report, signals, run) -> int:
    """`--watch`: micro-batch rounds every `--interval` seconds until a signal stops them."""
    from lakehouse.defs.catalog_refresh import refresh_catalog
    from lakehouse.landing.watch import WatchLimits
    from lakehouse.watching import watch_round

    limits = WatchLimits(settle_seconds=settings.settle_seconds())
    report(f"watching {layout.landing} every {args.interval:g} s (Ctrl-C stops)")
    while True:
        done = watch_round(definitions, instance, layout, limits, report, run)
        if signals.received() is not None:
            return 1  # `_build` says which signal stopped it
        if not done.idle:
            built = refresh_catalog(layout, instance)
            report(
                f"round: {len(done.bronze_runs)} bronze runs, {done.seconds:.2f} s, "
                f"catalog {built.seconds:.2f} s"
            )
        for failure in done.failed:
            report(f"lakehouse build --watch: {failure} failed; retried when its files change")
        time.sleep(args.interval)


def _summary(args: argparse.Namespace) -> int:
    from lakehouse.summary import gold_summary

    print(gold_summary(settings.lake_store(settings.DataLayout(settings.data_dir()))))
    return 0


def _quality(args: argparse.Namespace) -> int:
    import json

    from lakehouse.quality.report import format_report, plot_report, quality_report

    store = settings.lake_store(settings.DataLayout(settings.data_dir()))
    report = quality_report(store, args.days)
    if args.plot:
        print(f"wrote {plot_report(report, Path(args.plot))}", file=sys.stderr)
    print(json.dumps(report, indent=2) if args.json else format_report(report, args.days))
    return 1 if args.fail_on_alert and any(r["status"] != "ok" for r in report) else 0


def _profile(args: argparse.Namespace) -> int:
    from lakehouse.quality.profile import format_profile, profile, starter_model

    spec = args.table
    store = settings.lake_store(settings.DataLayout(settings.data_dir()))
    frame = store.scan(spec, args.partition or None)
    if spec.partition_column is not None:
        frame = frame.drop(spec.partition_column)
    rows, columns = profile(frame)
    print(format_profile(spec.qualified_name, rows, columns))
    if args.schema:
        Path(args.schema).write_text(starter_model(spec, rows, columns))
        print(f"\nwrote a starter pandera model to {args.schema}", file=sys.stderr)
    return 0


def _state(args: argparse.Namespace) -> int:
    import json

    from lakehouse.landing.state import all_states, format_states

    states = all_states(settings.lake_store(settings.DataLayout(settings.data_dir())))
    print(json.dumps(states, indent=2, default=str) if args.json else format_states(states))
    return 0


def _sentiment_score(args: argparse.Namespace) -> int:
    import json

    from lakehouse.ml import ArtifactError
    from lakehouse.ml.report import format_scored, scored_texts

    store = settings.lake_store(settings.DataLayout(settings.data_dir()))
    try:
        rows = scored_texts(store, args.texts)
    except ArtifactError as refused:
        print(f"lakehouse sentiment: {refused}", file=sys.stderr)
        return 2
    print(json.dumps(rows, indent=2, ensure_ascii=False) if args.json else format_scored(rows))
    return 0


def _sentiment_model(args: argparse.Namespace) -> int:
    import json

    from lakehouse.ml.report import format_summary, model_summary

    summary = model_summary(settings.lake_store(settings.DataLayout(settings.data_dir())))
    print(json.dumps(summary, indent=2, default=str) if args.json else format_summary(summary))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from lakehouse.bench.report import markdown
    from lakehouse.bench.runner import run_bench
    from lakehouse.bench.sizes import SIZES

    started = time.monotonic()

    def log(message: str) -> None:
        """A line per stage with the time since the start: a long run shows where it is."""
        elapsed = time.monotonic() - started
        print(
            f"[bench {elapsed // 60:3.0f}:{elapsed % 60:04.1f}] {message}",
            file=sys.stderr,
            flush=True,
        )

    work, out = Path(args.work).resolve(), Path(args.out).resolve()
    results, paths = run_bench(SIZES[args.size], work, out, log)
    print(markdown(results))
    for kind, path in paths.items():
        log(f"wrote {kind}: {path}")
    return 0


def _catalog(args: argparse.Namespace) -> int:
    layout = settings.DataLayout(settings.data_dir())
    import dagster as dg

    from lakehouse.defs.catalog_refresh import refresh_catalog

    with dg.DagsterInstance.from_config(str(settings.dagster_home(layout))) as instance:
        built = refresh_catalog(layout, instance)
    print(f"wrote {built.path}: {built.tables} tables, {built.rows:,} rows ({built.seconds:.2f} s)")
    print(f"open it with: duckdb -readonly {built.path}")
    return 0


def _sql(args: argparse.Namespace) -> int:
    from lakehouse.lake import Lake
    from lakehouse.sql_shell import sql_command

    out = Path(args.out) if args.out else None
    return sql_command(args.query, args.format, out, Lake(), as_of=args.as_of)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _table(name: str):
    """A table argument: its declaration, or a usage error listing the known tables."""
    from lakehouse.tables import find_table

    try:
        return find_table(name)
    except KeyError as error:
        raise argparse.ArgumentTypeError(error.args[0]) from None


def _timestamp(text: str) -> dt.datetime:
    """An ISO time for --as-of; without an offset it is UTC."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _history(args: argparse.Namespace) -> int:
    import json

    from lakehouse.versions import HEADER, history

    spec = args.table
    store = settings.lake_store(settings.DataLayout(settings.data_dir()))
    versions = history(store, spec, args.limit)
    if not versions:
        print(f"lakehouse history: {spec.qualified_name} has never been written", file=sys.stderr)
        return 1
    if args.json:
        rows = [{**vars(v), "time": v.time.isoformat()} for v in versions]
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{spec.qualified_name} ({store.table_uri(spec)})")
    print(HEADER)
    for version in versions:
        print(version.line())
    return 0


def _restore(args: argparse.Namespace) -> int:
    import dagster as dg

    from lakehouse.defs.maintenance import mark_restored
    from lakehouse.versions import restore

    spec = args.table
    layout = settings.DataLayout(settings.data_dir())
    store = settings.lake_store(layout)
    try:
        changed = restore(store, spec, args.version)
    except ValueError as error:
        print(f"lakehouse restore: {error}", file=sys.stderr)
        return 2
    with dg.DagsterInstance.from_config(str(settings.dagster_home(layout))) as instance:
        marked = mark_restored(instance, spec, changed, args.version)
    print(
        f"restored {spec.qualified_name} to version {args.version}: "
        f"{len(changed)} partition(s) changed"
        + (f" ({', '.join(p for p in changed if p)})" if 0 < len(changed) <= 10 else "")
    )
    if marked:
        print(
            "told Dagster: the restored partitions are new materializations, so what is built "
            "from them shows as stale until rebuilt (lakehouse build, or automation)"
        )
    return 0


def _tables(args: argparse.Namespace) -> int:
    from lakehouse.lake import Lake
    from lakehouse.sql_shell import tables_command

    return tables_command(Lake())


def _maintain(args: argparse.Namespace) -> int:
    layout = settings.DataLayout(settings.data_dir())
    import dagster as dg

    from lakehouse.defs.maintenance import run_maintenance
    from lakehouse.maintenance.run import OPERATIONS

    operations = args.operations or list(OPERATIONS)
    unknown = sorted(set(operations) - set(OPERATIONS))
    if unknown:
        print(
            f"lakehouse maintain: unknown operation(s) {unknown}; use {OPERATIONS}", file=sys.stderr
        )
        return 2
    home = str(settings.dagster_home(layout))
    with dg.DagsterInstance.from_config(home) as instance:
        actions = run_maintenance(
            layout,
            instance,
            operations,
            dry_run=args.dry_run,
            grace=dt.timedelta(days=args.grace_days),
            target_bytes=args.target_mb * 2**20,
        )
    verb = "would change" if args.dry_run else "changed"
    print(f"maintenance ({', '.join(operations)}): {verb} {len(actions)} item(s)")
    return 0


def _init_home(args: argparse.Namespace) -> int:
    print(settings.dagster_home(settings.DataLayout(settings.data_dir())))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from lakehouse.api.server import serve

    serve(args.host, args.port, args.workers)
    return 0


def _token_store():
    from lakehouse.api.tokens import TokenStore

    return TokenStore(settings.DataLayout(settings.data_dir()).api)


def _token_create(args: argparse.Namespace) -> int:
    try:
        secret = _token_store().create(args.name, args.role, args.expires)
    except ValueError as error:
        print(f"lakehouse token create: {error}", file=sys.stderr)
        return 2
    expiry = f", expires in {args.expires} days" if args.expires else ", no expiry"
    print(f"token {args.name!r} ({args.role}{expiry}); it is shown once, keep it now:")
    print(secret)
    return 0


def _token_list(args: argparse.Namespace) -> int:
    tokens = _token_store().tokens()
    if not tokens:
        print("no tokens (lakehouse token create --role analyst --name NAME)")
    for token in tokens:
        expiry = token.expires or "never"
        print(f"{token.name}\t{token.role}\tcreated {token.created}\texpires {expiry}")
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    if not _token_store().revoke(args.name):
        print(f"lakehouse token revoke: no token named {args.name!r}", file=sys.stderr)
        return 2
    print(f"revoked {args.name!r}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="lakehouse", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write deterministic sample landing feeds")
    generate.add_argument("--start", default=settings.SAMPLE_START_DATE.isoformat())
    generate.add_argument("--days", type=int, default=settings.SAMPLE_DAYS)
    generate.add_argument("--events-per-day", type=int, default=settings.SAMPLE_EVENTS_PER_DAY)
    generate.add_argument("--seed", type=int, default=settings.SAMPLE_SEED)
    generate.add_argument("--landing", help="landing folder (default: $LAKEHOUSE_DATA_DIR/landing)")
    generate.add_argument("--force", action="store_true", help="write even if data is there")
    generate.set_defaults(handler=_generate)

    build = commands.add_parser("build", help="materialize the lake through the dagster CLI")
    build.add_argument("--full", action="store_true", help="rebuild every landing day")
    build.add_argument(
        "--verbose", action="store_true", help="print Dagster's whole event log as it goes"
    )
    build.add_argument(
        "--wait-seconds",
        type=float,
        default=600,
        help="how long to wait for concurrency slots held by live runs before giving up with "
        "exit code 3 (default 600); slots of dead runs are freed at once",
    )
    build.add_argument(
        "--watch",
        action="store_true",
        help="then keep ingesting: settled new landing files are appended to bronze and silver "
        "and gold follow, every --interval seconds, until Ctrl-C (what the daemon's sensors do)",
    )
    build.add_argument(
        "--interval",
        type=float,
        default=30.0,
        help="seconds between --watch rounds (default 30)",
    )
    build.set_defaults(handler=_build)

    summary = commands.add_parser("summary", help="print a summary of the gold tables")
    summary.set_defaults(handler=_summary)

    quality = commands.add_parser("quality", help="latest quality score per table and its trend")
    quality.add_argument("--days", type=int, default=14, help="trend window (default 14)")
    quality.add_argument("--json", action="store_true", help="machine-readable output")
    quality.add_argument("--plot", metavar="FILE.png", help="draw the trend per table")
    quality.add_argument(
        "--fail-on-alert", action="store_true", help="exit 1 when a table is below threshold"
    )
    quality.set_defaults(handler=_quality)

    prof = commands.add_parser("profile", help="per-column statistics of a lake table")
    prof.add_argument(
        "table", type=_table, help="qualified name, e.g. silver.orders or gold/fact_sales"
    )
    prof.add_argument("--partition", action="append", help="only these partitions (repeatable)")
    prof.add_argument("--schema", metavar="FILE.py", help="write a starter pandera model")
    prof.set_defaults(handler=_profile)

    sentiment = commands.add_parser("sentiment", help="review sentiment: score texts, the model")
    sentiment_commands = sentiment.add_subparsers(dest="sentiment_command", required=True)
    score = sentiment_commands.add_parser(
        "score", help="score texts with the promoted model (positive probability and label)"
    )
    score.add_argument("texts", nargs="+", metavar="TEXT")
    score.add_argument("--json", action="store_true", help="a JSON list of objects")
    score.set_defaults(handler=_sentiment_score)
    model = sentiment_commands.add_parser("model", help="the promoted model and its metrics")
    model.add_argument("--json", action="store_true", help="machine-readable output")
    model.set_defaults(handler=_sentiment_model)

    state = commands.add_parser("state", help="watermark and load history per landing source")
    state.add_argument("--json", action="store_true", help="machine-readable output")
    state.set_defaults(handler=_state)

    bench = commands.add_parser(
        "bench", help="benchmark the lakehouse against raw DuckDB, Polars and pandas"
    )
    bench.add_argument(
        "--size",
        choices=("XS", "S", "M", "L"),
        default="M",
        help="XS is a smoke run; L reaches 10M events a day (default M)",
    )
    bench.add_argument("--work", default="bench/work", help="generated data and scratch lakes")
    bench.add_argument("--out", default="bench", help="where results/, RESULTS.md and the chart go")
    bench.set_defaults(handler=_bench)

    catalog = commands.add_parser(
        "catalog", help="rebuild lake/catalog.duckdb: a DuckDB view per table, for readers"
    )
    catalog.set_defaults(handler=_catalog)

    sql = commands.add_parser("sql", help="query the catalog (no query: an interactive prompt)")
    sql.add_argument("query", nargs="?", help="SQL; read from stdin when piped")
    sql.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    sql.add_argument("--out", metavar="FILE", help="write the result here (needed for parquet)")
    sql.add_argument(
        "--as-of",
        type=_timestamp,
        metavar="TIME",
        help="query every table as it was at this ISO time (UTC unless an offset is given)",
    )
    sql.set_defaults(handler=_sql)

    listing = commands.add_parser("tables", help="every table: owner, size, freshness, retention")
    listing.set_defaults(handler=_tables)

    maintain = commands.add_parser(
        "maintain", help="retention, compaction, clustering and vacuum of the lake, audited"
    )
    maintain.add_argument(
        "operations",
        nargs="*",
        metavar="{retention,compact,cluster,vacuum}",
        help="default: all, in that order",
    )
    maintain.add_argument("--dry-run", action="store_true", help="list what would change")
    maintain.add_argument("--grace-days", type=float, default=7.0, help="vacuum grace (default 7)")
    maintain.add_argument("--target-mb", type=int, default=128, help="compacted file size")
    maintain.set_defaults(handler=_maintain)

    versions = commands.add_parser("history", help="a table's versions, newest first")
    versions.add_argument("table", type=_table, help="qualified name, e.g. gold.fact_sales")
    versions.add_argument("--limit", type=int, help="only the newest N versions")
    versions.add_argument("--json", action="store_true", help="machine-readable output")
    versions.set_defaults(handler=_history)

    rollback = commands.add_parser("restore", help="roll a table back to an earlier version")
    rollback.add_argument("table", type=_table, help="qualified name, e.g. gold.fact_sales")
    rollback.add_argument("--version", type=int, required=True, help="from lakehouse history")
    rollback.set_defaults(handler=_restore)

    serve = commands.add_parser("serve", help="the read-only HTTP API (OpenAPI at /docs)")
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=int, default=8088, help="default: 8088")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="server processes accepting on the port (default: 1)",
    )
    serve.set_defaults(handler=_serve)

    token = commands.add_parser("token", help="API tokens: create, list, revoke")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="a new token, printed once (last line)")
    create.add_argument("--role", choices=("analyst", "engineer"), required=True)
    create.add_argument("--name", required=True, help="who or what it is for, e.g. bi_tool")
    create.add_argument("--expires", type=int, metavar="DAYS", help="default: never")
    create.set_defaults(handler=_token_create)
    token_commands.add_parser("list", help="names, roles, creation and expiry").set_defaults(
        handler=_token_list
    )
    revoke = token_commands.add_parser("revoke", help="refuse a token from now on")
    revoke.add_argument("name")
    revoke.set_defaults(handler=_token_revoke)

    home = commands.add_parser("init-home", help="create the Dagster home (telemetry off)")
    home.set_defaults(handler=_init_home)
    return root


def main(argv: list[str] | None = None) -> int:
    from lakehouse.storage import NotADeltaTable

    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except NotADeltaTable as error:
        print(f"lakehouse {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

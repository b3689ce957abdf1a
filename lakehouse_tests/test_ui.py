"""The Dagster UI in a real browser, and the GraphQL API a cron job or CI would use.

A dagster-webserver serves the code location on a free loopback port with its own Dagster home.
No daemon runs here, so the instance launches runs at once (DefaultRunCoordinator) instead of
queueing them. Chromium is Debian's (`.ci/run` installs it), driven by Playwright.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import dagster as dg
import polars as pl
import pytest
from dagster_graphql import DagsterGraphQLClient

from lakehouse import tables
from lakehouse.landing.generator import GeneratorConfig, generate
from lakehouse.storage import LakeStore
from lakehouse_tests.servers import dagster_web

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
TINY = GeneratorConfig(start=dt.date(2026, 11, 1), days=2, events_per_day=480, seed=5)
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
"""
ASSETS = {
    "bronze": ["app_events", "orders", "customers_cdc", "products"],
    "silver": ["app_events", "orders", "customers", "products", "sessions"],
    "gold": [
        "fact_sales",
        "dim_customer",
        "daily_summary",
        "event_metrics_hourly",
        "user_segments",
    ],
}
RUN_TIMEOUT_S = 180


@dataclass
class Webserver:
    url: str
    port: int
    root: Path
    home: Path

    @property
    def store(self) -> LakeStore:
        return LakeStore.local(self.root / "lake")

    @contextlib.contextmanager
    def instance(self) -> Iterator[dg.DagsterInstance]:
        """The webserver's instance, read from its Dagster home."""
        with (
            mock.patch.dict(os.environ, {"DAGSTER_HOME": str(self.home)}),
            dg.DagsterInstance.get() as instance,
        ):
            yield instance


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webserver]:
    root = tmp_path_factory.mktemp("ui")
    generate(root / "landing", TINY)
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    env = {
        **os.environ,
        "LAKEHOUSE_DATA_DIR": str(root),
        "DAGSTER_HOME": str(home),
        "LAKEHOUSE_START_DATE": TINY.start.isoformat(),
    }
    with dagster_web("dagster-webserver", env, root / "webserver.log") as port:
        yield Webserver(f"http://127.0.0.1:{port}", port, root, home)


def wait_for_run(server: Webserver, run_id: str) -> dg.DagsterRun:
    with server.instance() as instance:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            run = instance.get_run_by_id(run_id)
            if run is not None and run.is_finished:
                return run
            time.sleep(1)
    pytest.fail(f"run {run_id} did not finish within {RUN_TIMEOUT_S} s")


def test_the_ui_shows_every_asset_and_materializes_a_partition(
    webserver: Webserver, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: `apt-get install -y chromium` (.ci/run does it)")
    from playwright.sync_api import expect, sync_playwright

    shots = tmp_path / "screenshots"
    shots.mkdir()
    day = TINY.start.isoformat()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(f"{webserver.url}/asset-groups")
        skip = page.get_by_role("button", name="Skip")
        skip.wait_for()  # the community pop-up of a first visit
        page.screenshot(path=shots / "first-visit.png")
        skip.click()
        expect(skip).to_be_hidden()

        for group, names in ASSETS.items():
            page.goto(f"{webserver.url}/locations/__repository__@lakehouse/asset-groups/{group}")
            for name in names:
                expect(page.get_by_text(name, exact=True).first).to_be_visible()
            page.screenshot(path=shots / f"graph-{group}.png")

        page.goto(f"{webserver.url}/assets/bronze/orders")
        page.locator("button", has_text="Materialize").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Partition selection").wait_for()
        partitions = dialog.locator("input[type=text]").first
        partitions.fill(day)
        partitions.press("Enter")
        launch = dialog.locator("button", has_text="Launch 1 run")
        page.screenshot(path=shots / "launch-one-partition.png")
        launch.click()
        toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
        toast.wait_for()
        short_id = re.search(r"[0-9a-f]{8}", toast.inner_text()).group(0)
        with webserver.instance() as instance:
            runs = [r for r in instance.get_runs() if r.run_id.startswith(short_id)]
        assert len(runs) == 1 and runs[0].tags.get("dagster/partition") == day
        run = wait_for_run(webserver, runs[0].run_id)
        page.goto(f"{webserver.url}/runs/{run.run_id}")
        expect(page.get_by_text("Success", exact=True).first).to_be_visible()
        page.screenshot(path=shots / "run-succeeded.png")
        browser.close()

    assert run.status == dg.DagsterRunStatus.SUCCESS
    files = webserver.store.files(tables.BRONZE_ORDERS, [day])
    assert files, "the partition's Parquet appeared"
    assert webserver.store.partition_keys(tables.BRONZE_ORDERS) == [day]
    assert pl.read_parquet(files[0]).height > 0
    assert {path.name for path in shots.iterdir()} >= {"first-visit.png", "run-succeeded.png"}


def test_a_partitioned_run_through_the_graphql_client(webserver: Webserver) -> None:
    day = TINY.date(1).isoformat()
    client = DagsterGraphQLClient("127.0.0.1", port_number=webserver.port)
    run_id = client.submit_job_execution(
        "__ASSET_JOB",
        repository_location_name="lakehouse",
        asset_selection=[["bronze", "products"]],
        tags={"dagster/partition": day},
    )
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while (status := client.get_run_status(run_id)) not in (
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.CANCELED,
    ):
        assert time.monotonic() < deadline, f"run {run_id} still {status}"
        time.sleep(1)
    assert status == dg.DagsterRunStatus.SUCCESS
    assert webserver.store.partition_keys(tables.BRONZE_PRODUCTS) == [day]

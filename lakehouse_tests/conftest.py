"""Shared fixtures: a small generated sample and a lake built from it by real Dagster runs."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse.defs.bronze import bronze_assets
from lakehouse.defs.catalog_refresh import catalog_sensor
from lakehouse.defs.gold import gold_assets
from lakehouse.defs.ml import ml_assets
from lakehouse.defs.resources import LakeResource, duckdb_resource
from lakehouse.defs.silver import silver_assets
from lakehouse.landing.generator import MANIFEST_NAME, GeneratorConfig, generate
from lakehouse.partitions import Partitioning, range_tags
from lakehouse.settings import CodeSettings
from lakehouse.storage import LakeStore
from lakehouse.tables import ALL_TABLES

# Session hooks: a process a test started and did not stop fails the run.
from lakehouse_tests.leaks import pytest_configure, pytest_sessionfinish  # noqa: F401

#: The assets as the default settings build them, whatever the environment of the tests says.
PARTITIONING = Partitioning.from_settings(CodeSettings())
DAILY = PARTITIONING.daily
BRONZE_ASSETS = bronze_assets(PARTITIONING)
SILVER_ASSETS = silver_assets(PARTITIONING)
GOLD_ASSETS = gold_assets(PARTITIONING)
ALL_ASSETS = [*BRONZE_ASSETS, *SILVER_ASSETS, *ml_assets, *GOLD_ASSETS]


def asset_named(*path: str) -> dg.AssetsDefinition:
    """One of the assets above, by its key's path."""
    return next(asset for asset in ALL_ASSETS if asset.key.path == list(path))


#: Modules that take minutes, longest first. They are collected first so that pytest-xdist
#: (`--dist loadfile --no-loadscope-reorder`, in pyproject.toml) starts them first and the
#: workers finish together: each of the three workers starts one of the first three (the daemon,
#: the bench and the Celery tests are never on the same worker), then one of the next three.
SLOW_MODULES = (
    "test_daemon.py",
    "test_bench.py",
    "test_distributed.py",
    "test_recovery.py",
    "test_cli.py",
    "test_backfill.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return SLOW_MODULES.index(name) if name in SLOW_MODULES else len(SLOW_MODULES)

    items.sort(key=rank)  # stable: the order within a module and among the others is kept


SAMPLE = GeneratorConfig(start=PARTITIONING.first_day, days=5, events_per_day=2400, seed=7)
FIRST_DAY = SAMPLE.start.isoformat()
LAST_DAY = SAMPLE.date(SAMPLE.days - 1).isoformat()


def resources_for(root: Path) -> dict[str, object]:
    return {"lake": LakeResource(data_dir=str(root)), "duckdb": duckdb_resource("1GB", 2)}


@dataclass
class BuiltLake:
    root: Path
    manifest: dict
    result: dg.ExecuteInProcessResult
    instance: dg.DagsterInstance

    @property
    def store(self) -> LakeStore:
        return LakeStore.local(self.root / "lake")

    @property
    def lake(self) -> Path:
        return self.root / "lake"


@pytest.fixture(scope="session")
def sample_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated landing folder; copy it before changing it."""
    landing = tmp_path_factory.mktemp("sample") / "landing"
    generate(landing, SAMPLE)
    return landing


def copy_landing(sample_landing: Path, root: Path) -> Path:
    shutil.copytree(sample_landing, root / "landing")
    return root


@pytest.fixture(scope="session")
def built_lake(tmp_path_factory: pytest.TempPathFactory, sample_landing: Path):
    """The whole graph over the whole sample range, in one in-process run."""
    root = copy_landing(sample_landing, tmp_path_factory.mktemp("built"))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            ALL_ASSETS,
            resources=resources_for(root),
            instance=instance,
            tags=range_tags(FIRST_DAY, LAST_DAY),
        )
        manifest = json.loads((root / "landing" / MANIFEST_NAME).read_text())
        yield BuiltLake(root, manifest, result, instance)


@pytest.fixture(scope="session")
def catalogued(built_lake, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the built lake (tests here change it) with its catalog, built by the sensor
    that runs after every successful run."""
    root = tmp_path_factory.mktemp("catalogued")
    shutil.copytree(built_lake.lake, root / "lake")
    context = dg.build_run_status_sensor_context(
        sensor_name="catalog_after_runs",
        dagster_instance=built_lake.instance,
        dagster_run=built_lake.result.dagster_run,
        dagster_event=built_lake.result.get_run_success_event(),
        resources={"lake": LakeResource(data_dir=str(root))},
    )
    result = catalog_sensor(context)
    assert "catalog rebuilt" in str(result.skip_message)
    return root


#: Written by every run with its own clock or identity: not part of a table's contents.
RUN_COLUMNS = {"_ingested_at", "_quarantined_at", "as_of"}
#: Run histories, the maintenance log and the model registry (a resumed build trains again)
#: differ between any two builds by design.
HISTORY_LAYERS = {"quality", "lakehouse", "ml"}


def table_contents(store: LakeStore, names: set[str], days: list[str]) -> dict[str, pl.DataFrame]:
    """The rows of the given days of each named table, in a canonical order, without the
    columns that differ between two runs: what two builds of the same data must agree on."""
    contents = {}
    for spec in ALL_TABLES:
        if spec.qualified_name not in names:
            continue
        frame = store.scan(spec, days if spec.is_partitioned else None).collect()
        frame = frame.drop([c for c in frame.columns if c in RUN_COLUMNS])
        contents[spec.qualified_name] = frame.sort(frame.columns, nulls_last=True)
    return contents


def written_tables(store: LakeStore) -> set[str]:
    """Tables of the lake with files, run histories left out."""
    return {
        spec.qualified_name
        for spec in ALL_TABLES
        if spec.layer not in HISTORY_LAYERS and store.files(spec)
    }

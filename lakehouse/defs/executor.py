"""How a run executes its steps: in the run's own process by default.

A step process costs an interpreter start and an import of Dagster and the project (seconds
each), which dwarfed the work of a whole day's partition. The engines are multi-threaded
themselves, so one process uses the cores; `LAKEHOUSE_EXECUTOR=multiprocess` runs steps in
processes forked from a preloaded server instead, for isolation or more cores.
"""

import os

import dagster as dg

from lakehouse import settings


def run_executor() -> dg.ExecutorDefinition:
    kind = os.environ.get(settings.EXECUTOR_ENV, "in_process")
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "multiprocess":
        return dg.multiprocess_executor.configured(
            {
                "max_concurrent": os.cpu_count() or 2,
                "start_method": {"forkserver": {"preload_modules": ["lakehouse.definitions"]}},
            }
        )
    raise ValueError(f"{settings.EXECUTOR_ENV}={kind!r}: expected in_process or multiprocess")

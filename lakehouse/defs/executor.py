"""How a run executes its steps: in the run's own process by default.

A step process costs an interpreter start and an import of Dagster and the project (seconds
each), which dwarfed the work of a whole day's partition. The engines are multi-threaded
themselves, so one process uses the cores; `LAKEHOUSE_EXECUTOR=multiprocess` runs steps in
processes forked from a preloaded server instead, for isolation or more cores.

`LAKEHOUSE_EXECUTOR=celery` sends every step to Celery workers through a broker
(`LAKEHOUSE_CELERY_BROKER`, e.g. redis://10.0.0.5:6379/0; results through
`LAKEHOUSE_CELERY_BACKEND`): runs stay light processes on the host that launches them while the
work spreads over the workers' machines. Workers start with `make worker` (`deploy/celery.yaml`)
and need the project installed and the same settings (lake, Dagster instance).

`LAKEHOUSE_EXECUTOR=k8s` runs every step in its own Kubernetes pod (dagster-k8s), for a run pod
launched by the K8sRunLauncher of `deploy/k8s/values.yaml`: step pods inherit the run's image,
secrets and volumes and get the resources below. A step pod costs a pod start and an import of
the project, so in-process runs with `LAKEHOUSE_PARTITIONS_PER_RUN` are the cheaper way to spread
a backfill; step pods pay off when single steps need more memory than a run pod has.
"""

import os

import dagster as dg

from lakehouse import settings

EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")
#: Where the workers listen, read from the environment when a run starts (not when the code
#: loads: the workers load the same code without needing it). Also `deploy/celery.yaml`.
CELERY_CONFIG = {
    "broker": {"env": settings.CELERY_BROKER_ENV},
    "backend": {"env": settings.CELERY_BACKEND_ENV},
}

#: What each step pod asks of the cluster. A step holds at most one DuckDB (2 GB memory_limit by
#: default, `LAKEHOUSE_DUCKDB_MEMORY_LIMIT`) plus the Arrow batches it streams: the benchmark
#: measured 1.1 GB for the heaviest step at 10M events a day (docs/sizing.md).
STEP_RESOURCES = {
    "requests": {"cpu": "1", "memory": "2Gi"},
    "limits": {"memory": "3Gi"},
}
K8S_CONFIG = {"step_k8s_config": {"container_config": {"resources": STEP_RESOURCES}}}


def run_executor(kind: str) -> dg.ExecutorDefinition:
    """The executor `kind` names (`LAKEHOUSE_EXECUTOR`, see `settings.executor`)."""
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "multiprocess":
        return dg.multiprocess_executor.configured(
            {
                "max_concurrent": os.cpu_count() or 2,
                "start_method": {"forkserver": {"preload_modules": ["lakehouse.definitions"]}},
            }
        )
    if kind == "celery":
        # Imported here: dagster-celery is an optional dependency (lakehouse[scale]).
        from dagster_celery import celery_executor

        return celery_executor.configured(CELERY_CONFIG)
    if kind == "k8s":
        # Imported here: dagster-k8s is an optional dependency (lakehouse[scale]).
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(K8S_CONFIG)
    expected = ", ".join(EXECUTORS)
    raise ValueError(f"{settings.EXECUTOR_ENV}={kind!r}: expected one of {expected}")

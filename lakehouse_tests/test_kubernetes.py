"""The Kubernetes deployment (`deploy/k8s`), checked without a cluster.

No cluster exists here, so the tests do what Helm and Dagster would do up to the Kubernetes API:
render the instance (`dagster.yaml`) and the code location's container context from the Helm
values the way Dagster's chart templates do, validate them with Dagster's own config schemas,
then build the Kubernetes Jobs of a run and of a step with dagster-k8s' own code and check what
their pods would get: image, settings, secrets, the data volume and the memory they ask for.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import UserDefinedDagsterK8sConfig, construct_dagster_k8s_job

from lakehouse import settings
from lakehouse.defs.executor import STEP_RESOURCES

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
RELEASE = "dagster"  # `helm install dagster dagster/dagster`: the chart's full name is "dagster"
NAMESPACE = "lakehouse"
DAGSTER_HOME = "/opt/dagster/dagster_home"  # the chart's default `global.dagsterHome`

# The keys of the values the renderers below follow; a key outside them would be rendered by
# Helm but not checked here, so the test refuses it.
TOP_LEVEL_KEYS = {
    "global",
    "dagster-user-deployments",
    "runLauncher",
    "postgresql",
    "generatePostgresqlPasswordSecret",
    "dagsterDaemon",
    "concurrency",
    "telemetry",
}
RUN_LAUNCHER_KEYS = {
    "loadInclusterConfig",
    "imagePullPolicy",
    "envConfigMaps",
    "envSecrets",
    "volumes",
    "volumeMounts",
    "runK8sConfig",
    "failPodOnRunFailure",
}
DEPLOYMENT_KEYS = {
    "name",
    "image",
    "dagsterApiGrpcArgs",
    "port",
    "envConfigMaps",
    "envSecrets",
    "volumes",
    "volumeMounts",
    "includeConfigInLaunchedRuns",
    "resources",
}
RUN_K8S_CONFIG_KEYS = {
    "containerConfig": "container_config",
    "podSpecConfig": "pod_spec_config",
    "podTemplateSpecMetadata": "pod_template_spec_metadata",
    "jobSpecConfig": "job_spec_config",
    "jobMetadata": "job_metadata",
}


STORAGE_SECTIONS = ("run_storage", "event_log_storage", "schedule_storage")


def load_values() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "values.yaml").read_text())


def load_manifests() -> dict[tuple[str, str], dict[str, Any]]:
    documents = yaml.safe_load_all((DEPLOY / "lakehouse.yaml").read_text())
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents}


def names(entries: list[dict[str, str]] | None) -> list[str]:
    return [entry["name"] for entry in entries or []]


def the_deployment(values: dict[str, Any]) -> dict[str, Any]:
    [deployment] = values["dagster-user-deployments"]["deployments"]
    return deployment


# -- what the chart renders (templates/helpers/instance/*.tpl and the user-deployments chart) ----


def rendered_postgres_db(values: dict[str, Any]) -> dict[str, Any]:
    postgresql = values["postgresql"]
    return {
        "username": postgresql["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},  # from global.postgresqlSecretName
        "hostname": postgresql["postgresqlHost"],
        "db_name": postgresql["postgresqlDatabase"],
        "port": postgresql["service"]["port"],
        "params": postgresql.get("postgresqlParams", {}),
    }


def rendered_secrets_and_volumes(entry: dict[str, Any]) -> dict[str, Any]:
    """envSecrets, volumes and volumeMounts, rendered alike for the run launcher and for the
    code location's container context."""
    rendered: dict[str, Any] = {}
    if entry.get("envSecrets"):
        rendered["env_secrets"] = names(entry["envSecrets"])
    for key, name in (("volumes", "volumes"), ("volumeMounts", "volume_mounts")):
        if entry.get(key):
            rendered[name] = entry[key]
    return rendered


def rendered_run_launcher(values: dict[str, Any]) -> dict[str, Any]:
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": launcher["imagePullPolicy"],
        "service_account_name": RELEASE,
        "dagster_home": DAGSTER_HOME,
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    if launcher.get("envConfigMaps"):
        config["env_config_maps"] = names(launcher["envConfigMaps"])
    config |= rendered_secrets_and_volumes(launcher)
    if launcher.get("failPodOnRunFailure"):
        config["fail_pod_on_run_failure"] = True
    if launcher.get("runK8sConfig"):
        config["run_k8s_config"] = {
            RUN_K8S_CONFIG_KEYS[key]: value for key, value in launcher["runK8sConfig"].items()
        }
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def rendered_concurrency(values: dict[str, Any]) -> dict[str, Any]:
    runs, pools = values["concurrency"]["runs"], values["concurrency"]["pools"]
    return {
        "pools": {"default_limit": pools["defaultLimit"]},
        "runs": {
            "max_concurrent_runs": runs["maxConcurrentRuns"],
            "tag_concurrency_limits": runs.get("tagConcurrencyLimits", []),
        },
    }


def rendered_instance(values: dict[str, Any]) -> dict[str, Any]:
    """The `dagster.yaml` of the chart's instance ConfigMap."""

    def postgres_storage(module: str, name: str) -> dict[str, Any]:
        config = {"postgres_db": rendered_postgres_db(values)}
        return {"module": module, "class": name, "config": config}

    daemon = values["dagsterDaemon"]
    return {
        "scheduler": {"module": "dagster._core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": postgres_storage(
            "dagster_postgres.schedule_storage", "PostgresScheduleStorage"
        ),
        "run_launcher": rendered_run_launcher(values),
        "run_storage": postgres_storage("dagster_postgres.run_storage", "PostgresRunStorage"),
        "event_log_storage": postgres_storage(
            "dagster_postgres.event_log", "PostgresEventLogStorage"
        ),
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": daemon["runCoordinator"]["type"],
            "config": daemon["runCoordinator"]["config"]["queuedRunCoordinator"],
        },
        "run_retries": {
            "enabled": daemon["runRetries"]["enabled"],
            "max_retries": daemon["runRetries"]["maxRetries"],
            "retry_on_asset_or_op_failure": daemon["runRetries"]["retryOnAssetOrOpFailure"],
        },
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
        "concurrency": rendered_concurrency(values),
    }


def rendered_code_location_context(deployment: dict[str, Any]) -> dict[str, Any]:
    """`DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT` of the code server: with
    `includeConfigInLaunchedRuns` the chart hands the deployment's settings to every run."""
    k8s: dict[str, Any] = {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "env_config_maps": [
            f"{RELEASE}-dagster-user-deployments-{deployment['name']}-user-env",
            *names(deployment.get("envConfigMaps")),
        ],
        "namespace": NAMESPACE,
        "service_account_name": f"{RELEASE}-dagster-user-deployments-user-deployments",
        "run_k8s_config": {"pod_spec_config": {"automount_service_account_token": True}},
    }
    k8s |= rendered_secrets_and_volumes(deployment)
    if deployment.get("resources"):
        k8s["resources"] = deployment["resources"]
    return {"k8s": k8s}


# -- Dagster's config checks, through its public API ---------------------------------------------


def validated(schema: Any, config: dict[str, Any]) -> dict[str, Any]:
    """`config` processed against a class's config schema (defaults filled in, `env` values
    read) the way the instance does when it loads the class; a refused value raises
    DagsterInvalidConfigError naming it. Dagster's public route to its config system is a run's
    config, so the schema is that of an op."""

    @dg.op(name="configured", config_schema=schema)
    def configured() -> None:
        pass

    @dg.job(name="validate")
    def validate() -> None:
        configured()

    run_config = {"ops": {"configured": {"config": config}}}
    return dg.validate_run_config(validate, run_config)["ops"]["configured"]["config"]


def configured_class(section: dict[str, Any]) -> Any:
    """The class a `dagster.yaml` section names (`module` and `class`), as Dagster imports it."""
    return getattr(importlib.import_module(section["module"]), section["class"])


def without_storages(instance: dict[str, Any]) -> dict[str, Any]:
    """The instance with Dagster's local storages in place of the chart's PostgreSQL ones, so
    Dagster can build it here (the PostgreSQL storages connect when built); their sections are
    checked against their own schemas instead."""
    return {name: section for name, section in instance.items() if name not in STORAGE_SECTIONS}


# -- building the Jobs with dagster-k8s --------------------------------------------------------

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


def run_launcher(values: dict[str, Any], tmp_path: Path) -> K8sRunLauncher:
    """The chart's run launcher; outside a cluster it reads a kubeconfig (never contacted)."""
    config = validated(K8sRunLauncher.config_type(), rendered_run_launcher(values)["config"])
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    local = {**config, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)}
    return K8sRunLauncher.from_config_value(None, local)


def asset_job() -> dg.JobDefinition:
    """The asset job of the project's definitions (reconstructable: named at module level)."""
    from lakehouse.definitions import defs

    return defs().resolve_implicit_global_asset_job_def()


def a_run(values: dict[str, Any]) -> dg.DagsterRun:
    """A run of the asset job, launched from the code location the chart deploys: its origin
    carries the deployment's image and container context, as the chart's code server sets them."""
    deployment = the_deployment(values)
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    origin = dg.reconstructable(asset_job).get_python_origin()
    repository = origin.repository_origin._replace(
        executable_path="/usr/local/bin/python",
        container_image=image,
        container_context=rendered_code_location_context(deployment),
    )
    origin = origin._replace(repository_origin=repository)
    return dg.DagsterRun(job_name=origin.job_name, run_id="0" * 36, job_code_origin=origin)


def pod_container(context: K8sContainerContext, launcher: K8sRunLauncher, run: dg.DagsterRun):
    job_config = context.get_k8s_job_config(
        job_image=run.job_code_origin.repository_origin.container_image, run_launcher=launcher
    )
    job = construct_dagster_k8s_job(
        job_config=job_config,
        args=["dagster", "api", "execute_run", "{}"],
        job_name="dagster-run-0",
        pod_name="dagster-run-0",
        component="run_worker",
        user_defined_k8s_config=context.run_k8s_config,
    )
    [container] = job.spec.template.spec.containers
    return job.spec.template.spec, container


def env_sources(container) -> tuple[set[str], set[str]]:
    config_maps = {e.config_map_ref.name for e in container.env_from if e.config_map_ref}
    secrets = {e.secret_ref.name for e in container.env_from if e.secret_ref}
    return config_maps, secrets


# -- the tests ---------------------------------------------------------------------------------


def test_the_values_use_only_keys_these_checks_render() -> None:
    values = load_values()
    assert set(values) <= TOP_LEVEL_KEYS
    assert set(values["runLauncher"]["config"]["k8sRunLauncher"]) <= RUN_LAUNCHER_KEYS
    assert set(the_deployment(values)) <= DEPLOYMENT_KEYS
    run_k8s_config = values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]
    assert set(run_k8s_config) <= set(RUN_K8S_CONFIG_KEYS)


def test_the_chart_instance_is_valid_dagster_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = load_values()
    instance = rendered_instance(values)
    # The chart's pods read the database password from the secret deploy/k8s/lakehouse.yaml makes.
    secret = load_manifests()["Secret", values["global"]["postgresqlSecretName"]]
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", secret["stringData"]["postgresql-password"])
    # Dagster's own loader: the instance schema, pools against the run queue, and the instance
    # built from them (the run launcher and coordinator are built when first used).
    with dg.instance_for_test(
        overrides=without_storages(instance), temp_dir=str(tmp_path)
    ) as loaded:
        assert type(loaded) is dg.DagsterInstance  # no custom instance class
        assert loaded.get_concurrency_config().run_queue_config.max_concurrent_runs == 8
        assert type(loaded.run_coordinator) is dg.QueuedRunCoordinator
        retries = values["dagsterDaemon"]["runRetries"]
        assert loaded.run_retries_max_retries == retries["maxRetries"]
        assert loaded.run_retries_retry_on_asset_or_op_failure == retries["retryOnAssetOrOpFailure"]
    assert configured_class(instance["run_launcher"]) is K8sRunLauncher

    # Each class's own schema, as the instance applies it when it loads the class.
    for section in ("run_launcher", "run_coordinator", *STORAGE_SECTIONS):
        klass = configured_class(instance[section])
        try:
            validated(klass.config_type(), instance[section]["config"])
        except dg.DagsterInvalidConfigError as error:
            pytest.fail(f"{section}: {error}")


def test_a_refused_setting_fails_the_same_checks(tmp_path: Path) -> None:
    """The checks above would notice a mistake: a misspelt run-launcher field is refused."""
    values = load_values()
    values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"] = {"containerConfig": 1}
    config = rendered_run_launcher(values)["config"]
    with pytest.raises(dg.DagsterInvalidConfigError, match="container_config"):
        validated(K8sRunLauncher.config_type(), config)
    instance = rendered_instance(load_values())
    instance["run_retries"]["max_retries"] = "once"
    with (
        pytest.raises(dg.DagsterInvalidConfigError, match="max_retries"),
        dg.instance_for_test(overrides=without_storages(instance), temp_dir=str(tmp_path)),
    ):
        pass


def test_a_run_pod_gets_the_image_settings_secrets_volume_and_its_size(tmp_path: Path) -> None:
    values = load_values()
    launcher = run_launcher(values, tmp_path)
    run = a_run(values)
    # What K8sRunLauncher.launch_run does before it calls the Kubernetes API.
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=True)
    pod, container = pod_container(context, launcher, run)

    assert container.image == "lakehouse:0.1.0"
    config_maps, secrets = env_sources(container)
    assert "lakehouse-settings" in config_maps
    assert secrets == {"lakehouse-credentials"}
    assert {(m.name, m.mount_path) for m in container.volume_mounts} >= {
        ("lakehouse-data", "/data"),
        ("scratch", "/scratch"),
    }
    assert {v.name for v in pod.volumes if v.empty_dir} == {"scratch"}  # the pod's own disk
    claims = {
        v.persistent_volume_claim.claim_name for v in pod.volumes if v.persistent_volume_claim
    }
    assert claims == {"lakehouse-data"}
    env = {e.name: e.value for e in container.env}
    assert env["DAGSTER_HOME"] == DAGSTER_HOME
    # The run launcher's size reaches the run pod: the code location's context is merged over
    # it and would replace it if the deployment set `resources` (why values.yaml does not).
    wanted = values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]
    resources = wanted["containerConfig"]["resources"]
    assert container.resources.limits == resources["limits"]
    assert container.resources.requests == resources["requests"]


def test_the_k8s_executor_runs_each_step_in_a_pod_of_its_own_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakehouse.definitions import defs

    monkeypatch.setenv(settings.EXECUTOR_ENV, "k8s")
    job = defs().resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "k8s"
    # Dagster resolves the executor's configuration against its schema when a run starts.
    executor_config = dg.validate_run_config(job, {})["execution"]["k8s"]
    assert executor_config["step_k8s_config"]["container_config"]["resources"] == STEP_RESOURCES

    values = load_values()
    launcher = run_launcher(values, tmp_path)
    run = a_run(values)
    # What the executor's step handler merges for a step pod.
    step_context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=False).merge(
        K8sContainerContext(
            run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(executor_config["step_k8s_config"])
        )
    )
    pod, container = pod_container(step_context, launcher, run)
    assert container.resources.requests == STEP_RESOURCES["requests"]
    assert container.resources.limits == STEP_RESOURCES["limits"]
    config_maps, secrets = env_sources(container)
    assert "lakehouse-settings" in config_maps and secrets == {"lakehouse-credentials"}
    assert {v.name for v in pod.volumes if v.empty_dir} == {"scratch"}  # its own scratch disk


def test_the_manifests_hold_what_the_values_name(monkeypatch: pytest.MonkeyPatch) -> None:
    values, manifests = load_values(), load_manifests()
    deployment = the_deployment(values)
    for config_map in names(deployment["envConfigMaps"]):
        assert ("ConfigMap", config_map) in manifests
    for secret in names(deployment["envSecrets"]):
        assert ("Secret", secret) in manifests
    postgres_secret = manifests["Secret", values["global"]["postgresqlSecretName"]]
    assert "postgresql-password" in postgres_secret["stringData"]
    [volume] = [v for v in deployment["volumes"] if "persistentVolumeClaim" in v]
    claim = manifests["PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # every pod mounts it
    assert deployment["includeConfigInLaunchedRuns"]["enabled"]

    # Every variable set is one lakehouse reads, and its value is one lakehouse accepts.
    known = {value for name, value in vars(settings).items() if name.endswith("_ENV")}
    known |= {"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    variables = dict(manifests["ConfigMap", "lakehouse-settings"]["data"])
    variables |= manifests["Secret", "lakehouse-credentials"]["stringData"]
    assert set(variables) <= known
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert settings.data_dir() == Path("/data")
    assert settings.DataLayout(settings.data_dir()).scratch == Path("/scratch")
    assert settings.DataLayout(settings.data_dir()).lake_url.startswith("s3://")
    assert settings.partitions_per_run() == 7

    # The code server loads the module the deployment names.
    module_flag, module = deployment["dagsterApiGrpcArgs"]
    assert module_flag == "--module-name"
    assert isinstance(importlib.import_module(module).defs(), dg.Definitions)

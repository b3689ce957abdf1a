"""The run launcher of a lakehouse instance: Dagster's default one, plus a health check.

Dagster's default launcher cannot tell the daemon's run monitoring whether a run's worker is
alive, so a run whose worker was killed (with the daemon, say) stayed STARTED for good. This one
tags each run with the host it launches on and answers the health check from the run's process:
FAILED once it is gone, so monitoring fails the run, the retry policy retries it and the slots
it held are freed.
"""

from __future__ import annotations

from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher

from lakehouse.runs.health import HOST_TAG, process_alive, run_process, this_host


class LocalRunLauncher(DefaultRunLauncher):
    """Launches runs on this host's code servers and checks their processes."""

    def launch_run(self, context: LaunchRunContext) -> None:
        self._instance.add_run_tags(context.dagster_run.run_id, {HOST_TAG: this_host()})
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        instance = self._instance
        run = instance.get_run_by_id(run.run_id) or run  # with the tags added at launch
        process = run_process(instance, run)
        if process.pid is None or process.host != this_host():
            # Not a process this host can ask about: monitoring's timeouts still apply.
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"{process}: not checked here")
        record = instance.get_run_record_by_id(run.run_id)
        started_at = record.start_time if record else None
        if process_alive(process.pid, started_at):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"{process} died")

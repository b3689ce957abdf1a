"""Real servers the scale-out tests start on loopback ports and stop again: PostgreSQL (Debian's
package, installed by `.ci/run` when missing), moto's S3 server and a dask.distributed cluster.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

PROJECT = Path(__file__).resolve().parents[1]


def project_env() -> dict[str, str]:
    """The environment now, with the project (lakehouse_tests too) importable by a child
    Python process."""
    return {**os.environ, "PYTHONPATH": str(PROJECT)}


def start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen:
    """`dagster-daemon run` on the project's workspace (sensors, schedules, run queue)."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-daemon"),
            "run",
            "-w",
            str(PROJECT / "workspace.yaml"),
        ],
        cwd=PROJECT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        # Its own process group: `stop_daemon` also stops the code server it starts.
        start_new_session=True,
    )


def daemon_env(root: Path, home: Path) -> dict[str, str]:
    """Settings for a daemon on `root`: landing files read at once, sensors every 2 s."""
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "LAKEHOUSE_DATA_DIR": str(root),
        "LAKEHOUSE_SETTLE_SECONDS": "0",
        "LAKEHOUSE_SENSOR_INTERVAL_SECONDS": "5",
    }


def stop_tree(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
    """Signals a process started in its own session, its process group and every descendant
    (a code server's run workers and multiprocessing helpers included), then waits for all of
    them, not only the leader: a code server waits for its runs to finish before it exits, and
    one left behind would outlive the test (or the database its runs write to). Whatever is
    still alive after `timeout` seconds is killed."""
    tree: list[psutil.Process] = []  # the descendants; the leader is waited for by Popen
    if process.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            tree = psutil.Process(process.pid).children(recursive=True)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.send_signal(sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.2)  # reaps the leader as soon as it exits
        # Late children (a run worker spawned while the signal was on its way) are added too.
        for parent in [process.pid, *(member.pid for member in tree)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                late = psutil.Process(parent).children(recursive=True)
                tree += [child for child in late if child not in tree]
        _, alive = psutil.wait_procs(tree, timeout=0.5)
        if not [member for member in alive if not _exited(member)] and process.poll() is not None:
            return
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    psutil.wait_procs(tree, timeout=10)
    process.wait(timeout=10)


def _exited(process: psutil.Process) -> bool:
    """Gone, or a zombie another process has yet to reap (an orphan is reaped by whoever
    adopted it)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def stop_daemon(daemon: subprocess.Popen) -> None:
    stop_tree(daemon)


def wait_for(condition, timeout: float, what: str, describe=None) -> None:
    """Polls `condition` every second; on time-out the error says what was awaited and, from
    `describe()`, what the state was instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    state = f"\n{describe()}" if describe else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{state}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def postgres_bin() -> Path:
    """Debian keeps the server programs off PATH, under /usr/lib/postgresql/<version>/bin."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    pytest.fail("PostgreSQL is not installed: `.ci/run` installs Debian's postgresql package")


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster in a temporary folder on a free loopback port; yields
    the URL of an empty database. PostgreSQL refuses to run as root, so as root the server
    runs as the `postgres` user the Debian package creates."""
    bin_dir = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, cwd=folder)

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "lakehouse", "-E", "UTF8")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(folder / "log"),
        "-w",
        "start",
    )
    try:
        run(
            str(bin_dir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "lakehouse",
            "dagster",
        )
        yield f"postgresql+psycopg2://lakehouse@127.0.0.1:{port}/dagster"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def background(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A server process in its own process group, stopped (with its children) on exit."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=PROJECT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop_tree(process, timeout=30)


def program(name: str) -> str:
    """A console script of this virtual environment."""
    return str(Path(sys.executable).parent / name)


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Debian's redis-server (installed by `.ci/run` when missing) on a free loopback port,
    persisting nothing; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: `.ci/run` installs Debian's redis-server")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    command += ["--save", "", "--appendonly", "no"]
    with background(command, dict(os.environ), folder / "redis.log"):
        wait_for_port(port, 30, "redis-server")
        yield f"redis://127.0.0.1:{port}"


@contextlib.contextmanager
def celery_workers(env: dict[str, str], folder: Path, workers: int = 2) -> Iterator[None]:
    """`workers` Dagster Celery workers (as `make worker` starts them), one task at a time each,
    started with `env`: they run the steps, so they need the settings. Waits until all answer."""
    command = [program("dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
    command += ["-y", str(PROJECT / "deploy" / "celery.yaml")]
    # dagster-celery runs `celery` from PATH.
    env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
    with contextlib.ExitStack() as stack:
        for number in range(1, workers + 1):
            name = ["-n", f"worker{number}", "--", "--concurrency=1"]
            stack.enter_context(background([*command, *name], env, folder / f"worker{number}.log"))
        from celery import Celery

        app = Celery(broker=env["LAKEHOUSE_CELERY_BROKER"])

        def all_answer() -> bool:
            return len(app.control.ping(timeout=1.0)) == workers

        wait_for(all_answer, 120, f"{workers} Celery workers")
        yield


@contextlib.contextmanager
def dagster_web(command: str, env: dict[str, str], log: Path) -> Iterator[int]:
    """`dagster dev` (webserver and daemon, as `make ui` runs them) or `dagster-webserver` on a
    free loopback port; yields the port once the webserver answers."""
    port = free_port()
    args = [program("dagster"), "dev"] if command == "dagster dev" else [program(command)]
    args += ["-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with background(args, env, log) as process:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{command} did not start: {log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield port


@contextlib.contextmanager
def moto_s3(folder: Path, bucket: str = "lake") -> Iterator[dict[str, str]]:
    """moto's S3 API in server mode on a free loopback port, with one empty bucket; yields the
    environment that points the AWS clients (Arrow, obstore, Polars) at it."""
    port = free_port()
    command = [program("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with background(command, dict(os.environ), folder / "moto.log"):
        wait_for_port(port, 60, "moto_server")
        env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        }
        request = urllib.request.Request(f"{env['AWS_ENDPOINT_URL']}/{bucket}", method="PUT")
        with urllib.request.urlopen(request, timeout=10):
            pass
        yield env

"""Section 10: the API under load. `lakehouse serve` on a built lake, many concurrent clients
each reading one day of gold.fact_sales (a page of it, as a BI tool would) for a fixed time:
requests, errors, latency percentiles and the server's peak memory."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from lakehouse.bench.probe import tree_rss

RSS_SAMPLE_SECONDS = 0.5
#: Server processes (`lakehouse serve --workers`) and client processes of the load.
SERVER_WORKERS = 1
CLIENT_PROCESSES = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"lakehouse serve exited {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise RuntimeError(f"lakehouse serve did not listen on {port} within {timeout}s")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def _tree_cpu(process: psutil.Process) -> float:
    """CPU seconds (user and system) of a process and its descendants alive now."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def _machine_busy() -> float:
    """CPU seconds every core of the machine has spent busy since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _start_clients(
    url: str, token: str, day: str, clients: int, seconds: float, processes: int
) -> list[subprocess.Popen]:
    """`processes` client processes sharing `clients`, each waiting for the start signal."""
    shares = [
        clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
    ]
    started = []
    for share in shares:
        command = [sys.executable, "-m", "lakehouse.bench.api_clients", "--url", url]
        command += ["--day", day, "--clients", str(share), "--seconds", str(seconds)]
        child = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        child.stdin.write(token + "\n")
        child.stdin.flush()
        started.append(child)
    for child in started:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("an API load client did not start")
    return started


def run_api_load(
    root: Path,
    env: dict[str, str],
    clients: int,
    seconds: float,
    *,
    workers: int = SERVER_WORKERS,
    client_processes: int = CLIENT_PROCESSES,
) -> dict:
    """Serve `root`'s lake with `workers` processes and load it from `client_processes`
    processes holding `clients` closed-loop clients; the server is stopped (its process
    group) after. CPU shares are of the whole machine's cores over the run."""
    from lakehouse import settings
    from lakehouse.api.tokens import TokenStore
    from lakehouse.storage import LakeStore
    from lakehouse.tables import GOLD_FACT_SALES

    tokens = TokenStore(settings.DataLayout(root).api)
    tokens.revoke("bench")
    token = tokens.create("bench", "analyst")
    day = LakeStore.local(root / "lake").partition_keys(GOLD_FACT_SALES)[-1]
    port = _free_port()
    log_path = root / "api-bench.log"
    log = log_path.open("ab")
    offset = log.tell()
    server = subprocess.Popen(
        [sys.executable, "-m", "lakehouse.cli", "serve", "--port", str(port)]
        + ["--workers", str(workers)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    peak = 0
    done = threading.Event()
    loaders: list[subprocess.Popen] = []
    try:
        _wait_for_port(port, server)
        process = psutil.Process(server.pid)
        _wait_for_workers(log_path, offset, workers)
        idle_rss = tree_rss(process)

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                with contextlib.suppress(psutil.Error):
                    peak = max(peak, tree_rss(process))
                done.wait(RSS_SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample)
        loaders = _start_clients(
            f"http://127.0.0.1:{port}", token, day, clients, seconds, client_processes
        )
        server_cpu, machine_cpu = _tree_cpu(process), _machine_busy()
        started = time.perf_counter()
        sampler.start()
        for loader in loaders:
            loader.stdin.write("go\n")
            loader.stdin.flush()
        results = [json.loads(loader.stdout.readline()) for loader in loaders]
        elapsed = time.perf_counter() - started
        server_cpu = _tree_cpu(process) - server_cpu
        machine_cpu = _machine_busy() - machine_cpu
        done.set()
        sampler.join()
    finally:
        done.set()
        for loader in loaders:
            with contextlib.suppress(OSError):
                loader.stdin.close()
            try:
                loader.wait(timeout=30)
            except subprocess.TimeoutExpired:
                loader.kill()
                loader.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    latencies = [value for result in results for value in result["latencies"]]
    errors = [error for result in results for error in result["errors"]]
    client_cpu = sum(result["cpu_s"] for result in results)
    capacity = elapsed * (psutil.cpu_count() or 1)
    return {
        "clients": clients,
        "client_processes": client_processes,
        "server_workers": workers,
        "seconds": elapsed,
        "day": day,
        "requests": len(latencies),
        "errors": len(errors),
        "first_errors": errors[:3],
        "cache_hits": sum(result["cache_hits"] for result in results),
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p95_ms": _percentile(latencies, 0.95) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "server_idle_rss_mb": idle_rss / 2**20,
        "server_peak_rss_mb": peak / 2**20,
        "cpus": psutil.cpu_count(),
        "server_cpu_share": server_cpu / capacity,
        "client_cpu_share": client_cpu / capacity,
        # What else kept the machine busy meanwhile (another user's tests, say).
        "other_cpu_share": max(0.0, machine_cpu - server_cpu - client_cpu) / capacity,
        "server_cpu_ms_per_request": server_cpu / max(1, len(latencies)) * 1000,
        "client_cpu_ms_per_request": client_cpu / max(1, len(latencies)) * 1000,
    }


def _wait_for_workers(log: Path, offset: int, workers: int, timeout: float = 60) -> None:
    """With several workers the port is open before they all serve: wait until each has said
    in the log (which all of them write to, from `offset` on) that its application started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with log.open("rb") as handle:
            handle.seek(offset)
            if handle.read().count(b"Application startup complete") >= workers:
                return
        time.sleep(0.2)
    raise RuntimeError(f"lakehouse serve did not start {workers} workers within {timeout}s")

"""Section 10: the API under load. `lakehouse serve` on a built lake, many concurrent clients
each reading one day of gold.fact_sales (a page of it, as a BI tool would) for a fixed time:
requests, errors, latency percentiles and the server's peak memory."""

from __future__ import annotations

import contextlib
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


def run_api_load(root: Path, env: dict[str, str], clients: int, seconds: float) -> dict:
    """Serve `root`'s lake and load it; the server is stopped (its process group) after."""
    import httpx

    from lakehouse import settings
    from lakehouse.api.tokens import TokenStore
    from lakehouse.storage import LakeStore
    from lakehouse.tables import GOLD_FACT_SALES

    tokens = TokenStore(settings.DataLayout(root).api)
    tokens.revoke("bench")
    token = tokens.create("bench", "analyst")
    day = LakeStore.local(root / "lake").partition_keys(GOLD_FACT_SALES)[-1]
    port = _free_port()
    log = (root / "api-bench.log").open("ab")
    server = subprocess.Popen(
        [sys.executable, "-m", "lakehouse.cli", "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    latencies: list[float] = []
    errors: list[str] = []
    peak = 0
    done = threading.Event()
    try:
        _wait_for_port(port, server)
        process = psutil.Process(server.pid)
        idle_rss = tree_rss(process)

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                with contextlib.suppress(psutil.Error):
                    peak = max(peak, tree_rss(process))
                done.wait(RSS_SAMPLE_SECONDS)

        def client() -> None:
            headers = {"Authorization": f"Bearer {token}"}
            params = {"order_date": day, "limit": 1000}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
                while not done.is_set():
                    started = time.perf_counter()
                    try:
                        response = http.get("/tables/gold.fact_sales/rows", params=params)
                        response.raise_for_status()
                    except httpx.HTTPError as error:
                        errors.append(str(error))
                    latencies.append(time.perf_counter() - started)

        threads = [threading.Thread(target=sample)]
        threads += [threading.Thread(target=client) for _ in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        done.wait(seconds)
        done.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        done.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    return {
        "clients": clients,
        "seconds": elapsed,
        "day": day,
        "requests": len(latencies),
        "errors": len(errors),
        "first_errors": errors[:3],
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p95_ms": _percentile(latencies, 0.95) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "server_idle_rss_mb": idle_rss / 2**20,
        "server_peak_rss_mb": peak / 2**20,
    }

"""The load of section 10, run in a client process: `clients` asyncio tasks, each with its own
HTTP connection (an aiohttp session limited to one), each asking for the same page as soon as
it has read the previous answer whole (closed loop), until `seconds` have passed.

Several of these processes share the clients: one process holding 50 httpx clients in threads
spent its time on the GIL, and the bench then measured the clients rather than the server
(httpx's async client costs 1.5 ms of CPU a request here, aiohttp's 0.3 ms). A process
prints `ready`, waits for a line on stdin so that all of them start together, and prints its
figures as one JSON line: latencies, errors, answers served from the server's page cache and
the CPU seconds it used itself (`time.process_time`, every thread).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time


async def _client(url: str, token: str, params: dict, until: float, figures: dict) -> None:
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=1)  # one connection: one client
    async with aiohttp.ClientSession(
        base_url=url, headers=headers, timeout=timeout, connector=connector
    ) as http:
        while time.perf_counter() < until:
            started = time.perf_counter()
            try:
                async with http.get("/tables/gold.fact_sales/rows", params=params) as response:
                    await response.read()
                    response.raise_for_status()
                    if response.headers.get("X-Cache") == "hit":
                        figures["cache_hits"] += 1
            except (aiohttp.ClientError, TimeoutError) as error:
                figures["errors"].append(f"{type(error).__name__}: {error}")
            figures["latencies"].append(time.perf_counter() - started)


async def _load(url: str, token: str, day: str, clients: int, seconds: float) -> dict:
    params = {"order_date": day, "limit": "1000"}
    figures: dict = {"latencies": [], "errors": [], "cache_hits": 0}
    cpu = time.process_time()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(_client(url, token, params, until, figures) for _ in range(clients)))
    figures["seconds"] = time.perf_counter() - started
    figures["cpu_s"] = time.process_time() - cpu
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--day", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    token = sys.stdin.readline().strip()  # not on the command line, where `ps` shows it
    import aiohttp  # noqa: F401  (imported before the start, not timed)

    print("ready", flush=True)
    sys.stdin.readline()
    figures = asyncio.run(_load(args.url, token, args.day, args.clients, args.seconds))
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

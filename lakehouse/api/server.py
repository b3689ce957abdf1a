"""`lakehouse serve`: the API on uvicorn. SIGTERM and Ctrl-C stop it gracefully: requests in
flight finish and the audit log is flushed to the lake before the process exits.

With `workers` above 1, uvicorn starts that many processes accepting on one socket, each with
its own app (`create_app` is called in each): its own DuckDB, page cache, audit buffer (each
appends to `governance.api_requests` in commits of its own; concurrent Delta appends retry
on the version they lost to) and failed-attempt counts (so the limit is per process).
"""

from __future__ import annotations

APP_FACTORY = "lakehouse.api.app:create_app"


def serve(host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    if workers < 1:
        raise ValueError("--workers is a positive number of processes")
    if workers == 1:
        from lakehouse.api.app import create_app

        app = create_app()
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
        return
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
    )

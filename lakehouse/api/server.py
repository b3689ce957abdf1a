"""`lakehouse serve`: the API on uvicorn. SIGTERM and Ctrl-C stop it gracefully: requests in
flight finish and the audit log is flushed to the lake before the process exits."""

from __future__ import annotations


def serve(host: str, port: int) -> None:
    import uvicorn

    from lakehouse.api.app import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info", access_log=False)

"""`lakehouse serve`: a read-only HTTP API over the lake, with tokens, roles, PII masking, a
sandboxed SQL endpoint, an audit log in the lake and Prometheus metrics. `app.create_app`
assembles the modules beside it; each has one job."""

"""`lakehouse bench`: the framework against raw DuckDB, Polars and pandas on the same files.

Every measurement runs in a child process of the bench driver, sampled for the peak resident
memory of its whole process tree, so the Dagster CLI, its step processes and the engines' own
threads all count.
"""

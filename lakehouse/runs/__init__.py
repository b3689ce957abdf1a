"""Runs and the processes that execute them: where a run executes, whether that process is
still alive, and releasing what a dead run holds (its status, its concurrency slots)."""

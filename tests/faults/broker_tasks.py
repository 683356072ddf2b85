"""The task the Redis broker drill (test_redis_broker.py) gives to a real ``qcluster``: it only
appends one line per run to a file, so the drill counts runs without touching the database."""

from __future__ import annotations

import time


def record_run(log_path: str, label: str) -> None:
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"{label} {time.time():.3f}\n")


def read_runs(log_path) -> list[tuple[str, float]]:
    try:
        with open(log_path, encoding="utf-8") as log:
            lines = log.read().splitlines()
    except FileNotFoundError:
        return []
    return [(label, float(at)) for label, at in (line.rsplit(" ", 1) for line in lines if line)]

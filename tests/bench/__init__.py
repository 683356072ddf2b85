"""Benchmarks of the reminder engine (issue #8). Run with ``python -m tests.bench <name>``.

Not collected by pytest (pyproject ``norecursedirs``); see docs/benchmarks.md for results.
"""

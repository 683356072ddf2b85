"""Hostile values for the crawl (tests/hardening/test_crawl.py), and a deterministic sampler.

The values are what an attacker or a careless integrator sends: the calendar's edges, dates
that do not exist, a time skipped by a daylight-saving change, huge and negative numbers,
digits that are digits only to Unicode, NUL, a lone surrogate, direction overrides, emoji, a
10 kB string, and (for JSON) every wrong type.
"""

from __future__ import annotations

import hashlib

# Text that can travel in a URL, a form or a CSV file (a lone surrogate cannot: UTF-8 has no
# encoding for it, so it only arrives through a JSON escape; see JSON_ONLY).
TEXT = [
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "2026-03-08T02:30",  # skipped by the spring-forward change in New York
    "9999-12-31T23:59",
    "9999-12-31 23:59",
    "23:59",
    "25:61",
    str(10**30),
    "-1",
    "0",
    "1e309",
    "NaN",
    "²",
    "١٢",
    "\x00",
    "a\x00b",
    "\u202egnp.exe",  # right-to-left override
    "😀" * 3,
    "x" * 10_000,
    "",
    " ",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "+1 212 555 0199 ext. ²",
]

# Only through JSON: a lone surrogate (as the escape "\ud800") and values of the wrong type.
JSON_ONLY = [
    "\ud800",
    "x\udfffy",
    10**30,
    -(10**30),
    -1,
    1.5,
    float("1e308"),
    True,
    None,
    [],
    ["\x00"],
    {},
    {"a": "\ud800"},
]

JSON_VALUES = TEXT + JSON_ONLY

# Path segments for <str:…> and <slug:…> parameters (each must still match its converter).
STR_SEGMENTS = ["x", "²", "١٢", "\u202e", "😀", "a" * 300, "%00", "..%2F"]
SLUG_SEGMENTS = ["x", "a" * 300, "-", "_"]
HUGE_IDS = [0, 2**63, 10**30]


def sample(values: list, key: str, count: int) -> list:
    """``count`` of ``values`` chosen by a hash of ``key``: the same every run (so a failure
    repeats), different from field to field (so together the fields see the whole corpus)."""
    if count >= len(values):
        return list(values)
    start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")
    step = len(values) // count or 1
    return [values[(start + index * step) % len(values)] for index in range(count)]

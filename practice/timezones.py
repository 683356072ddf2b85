"""IANA time zone helpers shared by the models that store a zone name."""

from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from django.core.exceptions import ValidationError


@lru_cache(maxsize=1)
def timezone_names() -> tuple[str, ...]:
    # Legacy aliases such as "US/Eastern" are accepted by zoneinfo but hidden from the list.
    names = sorted(n for n in available_timezones() if "/" in n and not n.startswith("Etc/"))
    return (*names, "UTC")


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in timezone_names()]


def validate_timezone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(
            "“%(value)s” is not a known time zone. Use an IANA name such as America/New_York.",
            code="unknown_timezone",
            params={"value": value},
        )


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)

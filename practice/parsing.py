"""The one place that turns outside text into dates, datetimes, numbers and ids.

Every edge (forms, the API, the CSV import, query strings) parses through these, so hostile
input meets the same rules everywhere:

- ASCII digits only: "²" and "١٢" are digits to ``str.isdigit()`` and ``int()`` but not to us.
- Bounded ranges: dates between ``MIN_DAY`` and ``MAX_DAY``, far enough from year 1 and 9999
  that a day's bounds, a week, a time zone or a series of 52 weeks never leaves what Python's
  ``datetime`` can hold (9999-12-31 23:59 in New York is year 10000 in UTC: ``OverflowError``).
- Ids within a signed 64-bit integer (SQLite refuses a larger Python int with ``OverflowError``).
- Calendar-edge safe: 2026-02-30 is a wrong date, not a crash.

Each parser raises ``ValidationError`` with a message a person can act on; the form fields
below put them on the field.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

MIN_DAY = date(1900, 1, 1)
MAX_DAY = date(2199, 12, 31)
MAX_ID = 2**63 - 1

_INT = re.compile(r"[+-]?[0-9]+")
_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?")
_OFFSET = re.compile(r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)")


def _text(value) -> str:
    if not isinstance(value, str):
        kind = type(value).__name__
        raise ValidationError("Enter text, not %(kind)s.", code="invalid", params={"kind": kind})
    return value.strip()


def parse_int(value, *, min_value: int, max_value: int, what: str = "a whole number") -> int:
    """A whole number from ``min_value`` to ``max_value``, written with ASCII digits."""
    if isinstance(value, bool):
        raise ValidationError(f"Enter {what}.", code="invalid")
    if isinstance(value, int):
        number = value
    else:
        text = _text(value)
        if len(text) > 40 or not _INT.fullmatch(text):
            raise ValidationError(
                "Enter %(what)s from %(min)s to %(max)s.",
                code="invalid",
                params={"what": what, "min": min_value, "max": max_value},
            )
        number = int(text)
    if not min_value <= number <= max_value:
        raise ValidationError(
            "Enter %(what)s from %(min)s to %(max)s.",
            code="out_of_range",
            params={"what": what, "min": min_value, "max": max_value},
        )
    return number


def parse_id(value) -> int:
    """A row id: a positive whole number that fits the database's integer."""
    return parse_int(value, min_value=1, max_value=MAX_ID, what="an id")


def is_id(value) -> bool:
    try:
        parse_id(value)
    except ValidationError:
        return False
    return True


def check_day(day: date) -> date:
    if not MIN_DAY <= day <= MAX_DAY:
        raise ValidationError(
            "Choose a date between %(min)s and %(max)s.",
            code="out_of_range",
            params={"min": MIN_DAY.isoformat(), "max": MAX_DAY.isoformat()},
        )
    return day


def parse_date(value) -> date:
    """A calendar day written YYYY-MM-DD, within [MIN_DAY, MAX_DAY]."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return check_day(value)
    text = _text(value)
    match = _DATE.fullmatch(text)
    if not match:
        raise ValidationError("Enter a date as YYYY-MM-DD.", code="invalid")
    try:
        day = date(*(int(part) for part in match.groups()))
    except ValueError:
        message = "%(text)s is not a date on the calendar."
        raise ValidationError(message, code="invalid", params={"text": text}) from None
    return check_day(day)


def parse_time(value) -> time:
    if isinstance(value, time):
        return value
    text = _text(value)
    match = _TIME.fullmatch(text)
    if not match:
        raise ValidationError("Enter a time as HH:MM.", code="invalid")
    hour, minute, second, fraction = match.groups()
    try:
        return time(int(hour), int(minute), int(second or 0), int((fraction or "0").ljust(6, "0")))
    except ValueError:
        message = "%(text)s is not a time of day."
        raise ValidationError(message, code="invalid", params={"text": text}) from None


def local_datetime(day: date, at: time, tz: ZoneInfo) -> datetime:
    """``day`` at ``at`` on the wall clock of ``tz``. A time skipped by a daylight-saving jump
    (2:30 AM on the spring-forward night) does not exist and is refused; a time that happens
    twice (the fall-back night) means the first one."""
    check_day(day)
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=tz, fold=0)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        raise ValidationError(
            "%(time)s does not exist on %(day)s: the clocks change that night. Choose another time.",
            code="nonexistent_time",
            params={"time": at.strftime("%-I:%M %p"), "day": day.strftime("%b %-d")},
        )
    return aware


def parse_datetime(value, *, tz: ZoneInfo | None = None) -> datetime:
    """An ISO 8601 date and time. With an offset it is taken as written; without one it is a wall
    clock time in ``tz`` (refused when ``tz`` is None, or when the time falls in a DST gap)."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = _text(value)
        date_part, sep, rest = text.replace("T", " ", 1).partition(" ")
        if not sep:
            raise ValidationError("Enter a date and time, e.g. 2026-05-12 10:00.", code="invalid")
        offset = _OFFSET.search(rest)
        time_part, offset_text = rest, ""
        if offset and offset.end() == len(rest) and offset.start() > 0:
            time_part, offset_text = rest[: offset.start()], offset.group(0)
        day, at = parse_date(date_part), parse_time(time_part.strip())
        if offset_text:
            try:
                parsed = datetime.fromisoformat(f"{day.isoformat()}T{at.isoformat()}{offset_text}")
            except ValueError:
                message = "%(text)s has a wrong UTC offset."
                raise ValidationError(message, code="invalid", params={"text": text}) from None
        else:
            parsed = datetime.combine(day, at)
    check_day(parsed.date())
    if parsed.tzinfo is None:
        if tz is None:
            raise ValidationError("Give the UTC offset, e.g. 2026-05-12T10:00:00-04:00.", code="naive")
        return local_datetime(parsed.date(), parsed.time(), tz)
    return parsed


# --- Form fields ------------------------------------------------------------------------------------


class DateField(forms.DateField):
    """``forms.DateField`` through ``parse_date``: ASCII digits, on the calendar, within range."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        return parse_date(value)


class DateTimeField(forms.DateTimeField):
    """``forms.DateTimeField`` through ``parse_datetime``: a time without an offset is on the clock
    of the active time zone (the view activates the person's), refused in a DST gap."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        return parse_datetime(value, tz=timezone.get_current_timezone())


class IntegerField(forms.IntegerField):
    """``forms.IntegerField`` with ASCII digits only (bounds still come from min/max_value)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        low = self.min_value if self.min_value is not None else -(2**63)
        high = self.max_value if self.max_value is not None else 2**63 - 1
        return parse_int(value, min_value=low, max_value=high)


class ModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Refuses ids the database cannot hold before they reach a query (``pk__in`` with a
    20-digit number is an ``OverflowError`` on SQLite)."""

    def _check_values(self, value):
        key = self.to_field_name or "pk"
        if key == "pk":
            for pk in value:
                if not is_id(pk):
                    raise ValidationError(
                        self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                    )
        return super()._check_values(value)


class ModelChoiceField(forms.ModelChoiceField):
    def to_python(self, value):
        if value not in self.empty_values and not self.to_field_name and not is_id(value):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


# --- Text from outside ------------------------------------------------------------------------------

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_text(value: str) -> str:
    """Text as PostgreSQL can store it: NUL bytes and lone surrogates removed."""
    return _UNSTORABLE.sub("", value) if _UNSTORABLE.search(value) else value


def has_unstorable(value: str) -> bool:
    return bool(_UNSTORABLE.search(value))


# --- Return addresses -------------------------------------------------------------------------------


def local_url(value, *, host: str, require_https: bool = False) -> str | None:
    """``value`` if it is a path on this site ("/board/?date=…"), else None. Anything else —
    another host, a scheme, control characters, or a bare word that ``redirect()`` would try
    to reverse as a view name — is not a place to send a person back to."""
    if not isinstance(value, str) or not value.startswith("/") or not value.isprintable():
        return None
    if not url_has_allowed_host_and_scheme(value, allowed_hosts={host}, require_https=require_https):
        return None
    return value

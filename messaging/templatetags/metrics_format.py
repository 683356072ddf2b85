"""Formatting for the metrics page: rates as percentages, differences as percentage points."""

from django import template

register = template.Library()

NOTHING = "—"  # no sessions to divide by: not 0%


@register.filter
def percent(value) -> str:
    return NOTHING if value is None else f"{value * 100:.1f}%"


@register.filter
def points(value) -> str:
    """A difference of two rates, signed, in percentage points."""
    return NOTHING if value is None else f"{value * 100:+.1f} pts"

"""``{% timeline_rows appointment as rows %}``: the session page's message timeline, each row
with a note when a clinician override will skip it (SPEC F14: the override is visible before
the message is due, not only after it was skipped)."""

from django import template

from messaging.services import message_timeline_rows

register = template.Library()


@register.simple_tag
def timeline_rows(appointment):
    return message_timeline_rows(appointment=appointment)

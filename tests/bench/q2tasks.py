"""Tasks run by the django-q2 baselines: one trivial send per reminder."""

from messaging.backends.base import SMSMessage
from tests.bench.backends import TimestampingSMSBackend


def trivial_send(number: str) -> str:
    return TimestampingSMSBackend().send(SMSMessage(to=number, body="bench")).provider_message_id

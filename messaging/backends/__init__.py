"""Message channel backends, chosen by dotted path in settings (SMS_BACKEND)."""

from django.conf import settings
from django.utils.module_loading import import_string

from messaging.backends.base import BaseSMSBackend


def get_sms_backend(path: str | None = None) -> BaseSMSBackend:
    return import_string(path or settings.SMS_BACKEND)()

"""Channel backends, chosen by dotted path in settings (SMS_BACKEND, EMAIL_CHANNEL_BACKEND)."""

from django.conf import settings
from django.utils.module_loading import import_string

from messaging.backends.base import BaseSMSBackend


def get_sms_backend(path: str | None = None) -> BaseSMSBackend:
    return import_string(path or settings.SMS_BACKEND)()


def get_email_backend(path: str | None = None):
    """E-mail goes through Django's mail framework; EMAIL_URL picks SMTP, console or locmem."""
    return import_string(path or settings.EMAIL_CHANNEL_BACKEND)()


DEFAULT_PUSH_BACKEND = "messaging.backends.webpush.WebPushBackend"


def get_push_backend(path: str | None = None):
    """Web push: one encrypted notification per browser subscription (pywebpush + VAPID)."""
    return import_string(path or getattr(settings, "PUSH_BACKEND", DEFAULT_PUSH_BACKEND))()

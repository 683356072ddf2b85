from datetime import timedelta

from django.conf import settings
from django.utils import timezone

# Longer than this without a finished sweep and staff pages warn that reminders are stalled.
STALE_AFTER = timedelta(minutes=3)


def dispatcher_status(request):
    """On staff pages only: when the reminder dispatcher last swept, and whether that is stale."""
    if getattr(request, "membership", None) is None:
        return {}
    from messaging.models import DispatcherHeartbeat

    beat = DispatcherHeartbeat.objects.filter(name="dispatcher").first()
    if beat is None:
        return {"dispatcher_stale": True, "dispatcher_last_sweep": None}
    return {
        "dispatcher_stale": timezone.now() - beat.last_sweep_at > STALE_AFTER,
        "dispatcher_last_sweep": beat.last_sweep_at,
    }


def web_push(request):
    """Client pages offer the notification button only when the server can send web push, so
    a deployment without VAPID keys shows nothing and makes no requests for it."""
    return {"webpush_enabled": bool(getattr(settings, "WEBPUSH_VAPID_PRIVATE_KEY", ""))}

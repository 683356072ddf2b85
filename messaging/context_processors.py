from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from practice.context_processors import ShortMemo

# Longer than this without a finished sweep and staff pages warn that reminders are stalled.
STALE_AFTER = timedelta(minutes=3)


# The last sweep, read at most every NAV_CACHE_SECONDS per web process while it is recent; a
# stalled dispatcher's is read on every page, so the warning goes as soon as it sweeps again.
_last_sweep = ShortMemo("dispatcher_last_sweep")


def _recent(last_sweep_at) -> bool:
    return last_sweep_at is not None and timezone.now() - last_sweep_at <= STALE_AFTER


def _read_last_sweep():
    from messaging.models import DispatcherHeartbeat

    return (
        DispatcherHeartbeat.objects.filter(name="dispatcher").values_list("last_sweep_at", flat=True).first()
    )


def dispatcher_status(request):
    """On staff pages only: when the reminder dispatcher last swept, and whether that is stale."""
    if getattr(request, "membership", None) is None:
        return {}
    last_sweep_at = _last_sweep.get("dispatcher", _read_last_sweep, keep=_recent)
    if last_sweep_at is None:
        return {"dispatcher_stale": True, "dispatcher_last_sweep": None}
    return {
        "dispatcher_stale": timezone.now() - last_sweep_at > STALE_AFTER,
        "dispatcher_last_sweep": last_sweep_at,
    }


def web_push(request):
    """Client pages offer the notification button only when the server can send web push, so
    a deployment without VAPID keys shows nothing and makes no requests for it."""
    return {"webpush_enabled": bool(getattr(settings, "WEBPUSH_VAPID_PRIVATE_KEY", ""))}

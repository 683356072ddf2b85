from practice.context_processors import ShortMemo
from staff.board_views import QUEUE_TOTAL, open_follow_ups

# The navigation's open-queue count, per practice and (for clinicians) per clinician: at most
# NAV_CACHE_SECONDS old on other pages; the queue page shows its own count (``QUEUE_TOTAL``).
_open_counts = ShortMemo("needs_attention_count")


def needs_attention(request):
    """The open-queue count for the navigation (one COUNT query on staff pages, kept a few seconds).

    It runs for every template render, including DRF's own pages (/api/docs/), whose request
    user is DRF's and may be an ``AnonymousUser`` without django-otp's ``is_verified``.
    """
    membership = getattr(request, "membership", None)
    is_verified = getattr(request.user, "is_verified", None)
    if membership is None or membership.role == "biller" or is_verified is None or not is_verified():
        return {}
    shown = getattr(request, QUEUE_TOTAL, None)
    if shown is not None:
        return {"needs_attention_count": shown}
    scope = (membership.practice_id, membership.user_id if membership.role == "clinician" else None)
    return {"needs_attention_count": _open_counts.get(scope, lambda: open_follow_ups(membership).count())}

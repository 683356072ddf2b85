from staff.board_views import open_follow_ups


def needs_attention(request):
    """The open-queue count for the navigation (one COUNT query on staff pages).

    It runs for every template render, including DRF's own pages (/api/docs/), whose request
    user is DRF's and may be an ``AnonymousUser`` without django-otp's ``is_verified``.
    """
    membership = getattr(request, "membership", None)
    is_verified = getattr(request.user, "is_verified", None)
    if membership is None or membership.role == "biller" or is_verified is None or not is_verified():
        return {}
    return {"needs_attention_count": open_follow_ups(membership).count()}

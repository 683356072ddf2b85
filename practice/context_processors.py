def current_practice(request):
    return {
        "current_practice": getattr(request, "practice", None),
        "current_membership": getattr(request, "membership", None),
    }


def needs_attention(request):
    """The open-queue count for the navigation (one COUNT query on staff pages)."""
    membership = getattr(request, "membership", None)
    if membership is None or membership.role == "biller" or not request.user.is_verified():
        return {}
    from practice.board_views import open_follow_ups

    return {"needs_attention_count": open_follow_ups(membership).count()}

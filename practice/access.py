"""Who may do what. Every staff page is wrapped in ``staff_view`` with the roles it allows.

Roles (SPEC F2): owners and managers run the practice, front desk books for everyone,
clinicians see and manage their own sessions, billers read schedules and fees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from practice.models import Client, Membership, Role

ALL_ROLES = frozenset(Role.values)
SCHEDULERS = frozenset({Role.OWNER, Role.MANAGER, Role.FRONT_DESK})
MANAGERS = frozenset({Role.OWNER, Role.MANAGER})
# Who may create or change appointments at all (clinicians: their own only).
BOOKERS = SCHEDULERS | {Role.CLINICIAN}
CLIENT_EDITORS = SCHEDULERS


def staff_view(roles: Iterable[str] = ALL_ROLES) -> Callable:
    """Require a signed-in (and, via middleware, 2FA-verified) member of a practice with one of
    ``roles``. The view finds the member's practice on ``request.practice``."""
    allowed = frozenset(roles)

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            membership: Membership | None = getattr(request, "membership", None)
            if membership is None or membership.role not in allowed:
                raise PermissionDenied("Your role in this practice does not allow this page.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def can_manage_appointment(membership: Membership, appointment) -> bool:
    if membership.practice_id != appointment.practice_id:
        return False
    if membership.role in SCHEDULERS:
        return True
    return membership.role == Role.CLINICIAN and appointment.clinician.user_id == membership.user_id


def require_manage_appointment(membership: Membership, appointment) -> None:
    if not can_manage_appointment(membership, appointment):
        raise PermissionDenied("You can only change sessions you are allowed to manage.")


def visible_clients(membership: Membership):
    """Clients a staff member may see: clinicians see the clients of their own sessions."""
    clients = Client.objects.for_practice(membership.practice)
    if membership.role == Role.CLINICIAN:
        clients = clients.filter(participations__appointment__clinician__user=membership.user).distinct()
    return clients

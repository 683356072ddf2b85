"""The API token as the actor of audit entries (SPEC F23).

A token acts for a practice, not a person, so the audit entry's user is empty; instead the
entry's ``actor_email`` reads ``API token "EHR sync" (att_1a2b3c4d…)`` and its
``additional_data`` holds the token's id and name, so a manager can see which integration made
a change. django-auditlog fills these from its context (``set_extra_data``) when it saves an
entry; the values are callables because the token is known only after authentication, which
DRF runs inside the view.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

from auditlog.context import set_extra_data
from auditlog.middleware import AuditlogMiddleware

from practice.models import ApiToken


def request_remote_addr(request) -> str | None:
    """The client's address as AuditlogMiddleware records it for staff requests (our context
    replaces the middleware's, so it has to be given again)."""
    return AuditlogMiddleware._get_remote_addr(request)


def token_label(token: ApiToken) -> str:
    return f'API token "{token.name}" ({token.prefix}…)'


@contextmanager
def audit_as(*, label: Callable[[], str | None], data: Callable[[], dict | None], remote_addr: str | None):
    """Audit entries written inside are attributed to ``label()`` with ``data()``."""
    with set_extra_data({"actor_email": label, "additional_data": data, "remote_addr": remote_addr}):
        yield


@contextmanager
def audit_as_api_token(current_token: Callable[[], ApiToken | None], request):
    def label():
        token = current_token()
        return token_label(token) if isinstance(token, ApiToken) else None

    def data():
        token = current_token()
        if not isinstance(token, ApiToken):
            return None
        return {"api_token_id": token.pk, "api_token": token.name}

    with audit_as(label=label, data=data, remote_addr=request_remote_addr(request)):
        yield

"""The session engine (SESSION_ENGINE = "practice.sessions"): Django's database sessions, with
the signed-in user's id kept in a column of its own.

Taking someone off the team (or any "sign this person out everywhere") then deletes their sessions
by that column, instead of decoding every live session in the table — which also holds every
booking-page visitor's — to find whose it is. Built the way Django documents for extending the
database-backed engine (``AbstractBaseSession``)."""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls):
        from practice.models import BrowserSession

        return BrowserSession

    def create_model_instance(self, data):
        session = super().create_model_instance(data)
        try:
            session.user_id = int(data.get("_auth_user_id"))
        except (TypeError, ValueError):
            session.user_id = None  # a visitor (booking page, client pages): nobody signed in
        return session


def user_sessions_delete(user_id: int) -> int:
    """End every session the user is signed in with; the number ended."""
    deleted, _ = SessionStore.get_model_class().objects.filter(user_id=user_id).delete()
    return deleted


def sessions_clear_expired() -> None:
    """Delete expired sessions (what ``manage.py clearsessions`` does), daily from the worker
    (practice 0012): database sessions are never removed otherwise, and every visitor of a
    booking page leaves one."""
    SessionStore.clear_expired()

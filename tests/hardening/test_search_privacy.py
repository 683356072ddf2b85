"""Operator-console and client-list searches are client names: they stay out of the logs and the
audit trail (docs/security.md, "What is logged")."""

from __future__ import annotations

import logging

import pytest
from auditlog.models import LogEntry

from practice.log_filters import MaskClientTokens, mask_client_tokens

pytestmark = pytest.mark.django_db

NAME = "Zebulon Quarrington"


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        (
            '"GET /admin/practice/client/?q=Zebulon+Q&o=1 HTTP/1.1" 200',
            '"GET /admin/practice/client/?q=…&o=1 HTTP/1.1" 200',
        ),
        (
            "/admin/practice/client/3/change/?_changelist_filters=q%3DZebulon",
            "/admin/practice/client/3/change/?_changelist_filters=…",
        ),
        ("/clients/?status=active&q=Zebulon", "/clients/?status=active&q=…"),
        ("Not Found: /s/abcdefghijklmnop", "Not Found: /s/…"),
        ("Not Found: /h/abcdefghijklmnop", "Not Found: /h/…"),
        ("Not Found: /o/abcdefghijklmnop", "Not Found: /o/…"),
        ('"POST /r/abcdefghijklmnop HTTP/1.1" 409', '"POST /r/… HTTP/1.1" 409'),
        ("Not Found: /cal/abcdefghijklmnop.ics", "Not Found: /cal/….ics"),
        ("/board/?date=2026-05-12", "/board/?date=2026-05-12"),
    ],
)
def test_search_terms_and_every_client_link_token_are_masked(line, masked):
    assert mask_client_tokens(line) == masked


def test_a_console_search_leaves_no_name_in_the_log_or_the_audit_trail(signed_in, manager, monkeypatch):
    manager.is_staff = manager.is_superuser = True
    manager.save()
    http = signed_in(manager)
    console = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, MaskClientTokens) for f in h.filters)
    )
    lines: list[str] = []
    monkeypatch.setattr(console, "emit", lambda record: lines.append(console.format(record)))
    django_server = logging.getLogger("django.server")

    for path in ("/admin/practice/client/", "/clients/", "/admin/practice/client/999999/change/"):
        response = http.get(path, {"q": NAME, "_changelist_filters": f"q={NAME}"})
        assert response.status_code < 500
        # What runserver writes for each request (gunicorn's access log: see docs/security.md).
        django_server.info('"GET %s?q=%s HTTP/1.1" %s', path, NAME.replace(" ", "+"), response.status_code)

    assert lines, "nothing reached the console handler"
    assert not any("Zebulon" in line for line in lines)
    assert not LogEntry.objects.filter(changes_text__icontains="Zebulon").exists()
    assert not any("Zebulon" in str(entry.additional_data or "") for entry in LogEntry.objects.all())

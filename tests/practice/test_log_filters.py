"""Client link tokens never reach the log (SPEC F24)."""

import logging

import pytest
from django.urls import reverse

from practice.log_filters import MaskClientTokens, mask_client_tokens


@pytest.mark.parametrize("prefix", ["/a/", "/p/", "/j/", "/t/"])
def test_tokens_of_client_links_are_masked(prefix):
    token = "tgHFldE7R0rcg3iyPVOOkWTqIQY3H5Sf"

    masked = mask_client_tokens(f"Not Found: {prefix}{token}")

    assert token not in masked
    assert masked == f"Not Found: {prefix}…"


def test_other_paths_are_left_alone():
    assert mask_client_tokens("Not Found: /appointments/12/") == "Not Found: /appointments/12/"


def test_the_filter_rewrites_the_record_with_its_arguments():
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Bad Request: %s", ("/a/abcdefgh1234",), None
    )

    assert MaskClientTokens().filter(record) is True
    assert record.getMessage() == "Bad Request: /a/…"


def test_the_console_handler_of_the_settings_masks_tokens(settings):
    handler_filters = settings.LOGGING["handlers"]["console"]["filters"]
    assert "client_tokens" in handler_filters


@pytest.mark.django_db
def test_a_404_for_a_client_link_logs_no_token(client, caplog, monkeypatch):
    # caplog's handler sits beside the console handler, so check the filter on the real one.
    console = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, MaskClientTokens) for f in h.filters)
    )
    records = []
    monkeypatch.setattr(console, "emit", lambda record: records.append(console.format(record)))
    with caplog.at_level(logging.WARNING):
        client.get("/a/tgHFldE7R0rcg3iyPVOOkWTqIQY3H5Sf")

    assert any("Not Found: /a/…" in line for line in records)
    assert not any("tgHFldE7R0rcg3iyPVOOkWTqIQY3H5Sf" in line for line in records)


def _reachable_handlers(name: str) -> list[logging.Handler]:
    handlers, logger = [], logging.getLogger(name)
    while logger is not None:
        handlers += logger.handlers
        logger = logger.parent if logger.propagate else None
    return handlers


@pytest.mark.django_db
def test_a_403_is_logged_once_in_one_line_without_a_traceback(settings, signed_in, biller, monkeypatch):
    # DEBUG on, as in the demo: Django's own "console" handler on the "django" logger would
    # print the record a second time beside ours.
    settings.DEBUG = True
    lines = []
    for handler in _reachable_handlers("django.request"):
        if type(handler).__module__.startswith("_pytest"):
            continue
        monkeypatch.setattr(
            handler, "emit", lambda record, handler=handler: lines.append(handler.format(record))
        )
    http = signed_in(biller)
    lines.clear()

    response = http.get(reverse("follow_up_list"))

    assert response.status_code == 403
    forbidden = [line for line in lines if "Forbidden" in line]
    assert len(forbidden) == 1, lines
    assert "Traceback" not in forbidden[0]
    assert "\n" not in forbidden[0]

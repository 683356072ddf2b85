"""Tech check (SPEC F8): the rules, the page, the probes and the result endpoint."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from scheduling.models import FollowUp, FollowUpKind
from scheduling.services import appointment_book, appointment_cancel, appointment_reschedule
from telehealth import techcheck
from telehealth.models import TechCheckResult
from telehealth.services import join_link_for, tech_check_record
from telehealth.techcheck_rules import (
    MAX_RTT_MS,
    MIN_DOWNLOAD_MBPS,
    MIN_UPLOAD_MBPS,
    Check,
    DeviceStatus,
    Measurements,
    PayloadError,
    evaluate,
    measurements_from_payload,
)

GOOD = {
    "secure_context": True,
    "get_user_media": True,
    "rtc_peer_connection": True,
    "camera": "ok",
    "microphone": "ok",
    "mic_level": 0.4,
    "rtt_ms": 40.0,
    "download_mbps": 25.0,
    "upload_mbps": 10.0,
}


def measured(**changes) -> Measurements:
    return measurements_from_payload(GOOD | changes)


# --- Rules -------------------------------------------------------------------------------------


def test_good_measurements_pass_every_check():
    evaluation = evaluate(measured())
    assert evaluation.passed
    assert all(evaluation.checks.values())
    assert evaluation.problems == ()


@pytest.mark.parametrize(
    ("rtt", "ok"), [(0, True), (MAX_RTT_MS, True), (MAX_RTT_MS + 0.1, False), (5000, False)]
)
def test_round_trip_passes_up_to_the_limit_inclusive(rtt, ok):
    evaluation = evaluate(measured(rtt_ms=rtt))
    assert evaluation.checks[Check.NETWORK] is ok
    assert ("slow_response" in evaluation.problem_codes) is not ok


@pytest.mark.parametrize(
    ("mbps", "ok"), [(MIN_DOWNLOAD_MBPS, True), (MIN_DOWNLOAD_MBPS - 0.01, False), (0, False)]
)
def test_download_needs_the_minimum_for_video(mbps, ok):
    evaluation = evaluate(measured(download_mbps=mbps))
    assert evaluation.checks[Check.NETWORK] is ok
    assert ("slow_download" in evaluation.problem_codes) is not ok


@pytest.mark.parametrize(("mbps", "ok"), [(MIN_UPLOAD_MBPS, True), (MIN_UPLOAD_MBPS - 0.01, False)])
def test_upload_needs_the_minimum_for_video(mbps, ok):
    evaluation = evaluate(measured(upload_mbps=mbps))
    assert evaluation.checks[Check.NETWORK] is ok
    assert ("slow_upload" in evaluation.problem_codes) is not ok


def test_slow_network_fix_says_move_closer_to_wifi_and_close_apps():
    (problem,) = evaluate(measured(upload_mbps=0.2)).problems
    assert "Wi-Fi" in problem.fix
    assert "close other apps" in problem.fix


def test_a_figure_that_could_not_be_measured_fails_the_network():
    evaluation = evaluate(measured(download_mbps=None))
    assert not evaluation.checks[Check.NETWORK]
    assert evaluation.problem_codes == ["slow_download"]


def test_no_network_figures_at_all_is_one_problem_not_three():
    evaluation = evaluate(measured(rtt_ms=None, download_mbps=None, upload_mbps=None))
    assert evaluation.problem_codes == ["network_untested"]


def test_blocked_camera_and_microphone_explain_how_to_allow_them():
    evaluation = evaluate(measured(camera="denied", microphone="denied"))
    assert not evaluation.passed
    assert evaluation.problem_codes == ["camera_blocked", "microphone_blocked"]
    assert all("Allow" in problem.fix for problem in evaluation.problems)
    assert evaluation.checks[Check.BROWSER] and evaluation.checks[Check.NETWORK]


@pytest.mark.parametrize(
    ("status", "code"),
    [("not_found", "camera_not_found"), ("in_use", "camera_in_use"), ("error", "camera_error")],
)
def test_each_camera_failure_has_its_own_problem(status, code):
    evaluation = evaluate(measured(camera=status))
    assert evaluation.problem_codes == [code]
    assert not evaluation.checks[Check.CAMERA]
    assert evaluation.checks[Check.MICROPHONE]


def test_unsupported_browser_is_reported_once_and_names_browsers_to_use():
    evaluation = evaluate(measured(get_user_media=False, camera="unsupported", microphone="unsupported"))
    assert evaluation.problem_codes == ["unsupported_browser"]
    assert "Safari" in evaluation.problems[0].fix and "Chrome" in evaluation.problems[0].fix
    assert not evaluation.checks[Check.CAMERA] and not evaluation.checks[Check.MICROPHONE]


def test_missing_peer_connection_is_an_unsupported_browser():
    assert evaluate(measured(rtc_peer_connection=False)).problem_codes == ["unsupported_browser"]


def test_page_not_opened_securely_tells_to_use_the_link_as_sent():
    evaluation = evaluate(measured(secure_context=False, get_user_media=False, camera="unsupported"))
    assert evaluation.problem_codes[0] == "insecure_page"
    assert "https://" in evaluation.problems[0].fix


def test_quiet_microphone_is_a_tip_not_a_failure():
    evaluation = evaluate(measured(mic_level=0.0))
    assert evaluation.passed
    assert len(evaluation.tips) == 1


def test_unknown_mic_level_gives_no_tip():
    assert evaluate(measured(mic_level=None)).tips == ()


# --- Payload validation (pure) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"camera_ok": True}, "camera_ok"),
        ({"secure_context": 1}, "secure_context"),
        ({"camera": "fine"}, "camera"),
        ({"camera": None}, "camera"),
        ({"rtt_ms": "40"}, "rtt_ms"),
        ({"rtt_ms": True}, "rtt_ms"),
        ({"rtt_ms": -1}, "rtt_ms"),
        ({"download_mbps": 10**9}, "download_mbps"),
        ({"mic_level": 1.5}, "mic_level"),
    ],
)
def test_payload_field_errors_name_the_field(changes, field):
    with pytest.raises(PayloadError) as raised:
        measurements_from_payload(GOOD | changes)
    assert set(raised.value.fields) == {field}


def test_payload_missing_fields_are_each_reported():
    payload = {k: v for k, v in GOOD.items() if k not in ("camera", "upload_mbps")}
    with pytest.raises(PayloadError) as raised:
        measurements_from_payload(payload)
    assert raised.value.fields == {"camera": "is required", "upload_mbps": "is required"}


@pytest.mark.parametrize("payload", [[], "ok", 3, None])
def test_payload_must_be_an_object(payload):
    with pytest.raises(PayloadError):
        measurements_from_payload(payload)


def test_payload_accepts_integers_and_nulls_for_figures():
    m = measurements_from_payload(GOOD | {"rtt_ms": 40, "download_mbps": None})
    assert m.rtt_ms == 40.0 and m.download_mbps is None
    assert m.camera is DeviceStatus.OK


# --- Fixtures for the views ---------------------------------------------------------------------


@pytest.fixture
def appointment(practice, clinician, client_ann, service_type, tomorrow_10am):
    return appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=tomorrow_10am,
        service_type=service_type,
    )


@pytest.fixture
def participant(appointment):
    return appointment.participants.get()


@pytest.fixture
def token(participant) -> str:
    return join_link_for(participant).token


@pytest.fixture
def web(db) -> HttpClient:
    return HttpClient()


def post_result(web, token, payload, **extra):
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return web.post(
        reverse("tech_check_result", args=[token]), body, content_type="application/json", **extra
    )


# --- The page -----------------------------------------------------------------------------------


def test_page_renders_for_a_valid_token_with_no_inline_script_or_style(web, token, practice):
    response = web.get(reverse("tech_check", args=[token]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in html
    assert "/static/js/techcheck.js" in html
    # CSP is script-src 'self' / style-src 'self': every script is a file, no style attributes.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert " style=" not in html and "<style" not in html
    assert practice.phone.as_national in html


def test_page_shows_the_first_name_only(web, token):
    html = web.get(reverse("tech_check", args=[token])).content.decode()
    assert "Ann" in html
    assert "Avery" not in html and "ann@example.test" not in html and "5550101" not in html


def test_page_is_never_cached_and_sends_no_referrer(web, token):
    response = web.get(reverse("tech_check", args=[token]))
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_unknown_token_shows_the_invalid_link_page_with_404(web):
    response = web.get(reverse("tech_check", args=["not-a-real-token"]))
    assert response.status_code == 404
    assert "This link doesn't work" in response.content.decode()


def test_cancelled_session_explains_instead_of_running_the_check(web, token, appointment):
    appointment_cancel(appointment=appointment, reason="client request")
    response = web.get(reverse("tech_check", args=[token]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "cancelled" in html
    assert "techcheck.js" not in html


def test_ended_session_explains_instead_of_running_the_check(web, token, appointment, time_machine):
    time_machine.move_to(appointment.ends_at + timedelta(minutes=1))
    html = web.get(reverse("tech_check", args=[token])).content.decode()
    assert "has ended" in html and "techcheck.js" not in html


def test_check_runs_during_the_session(web, token, appointment, time_machine):
    time_machine.move_to(appointment.starts_at + timedelta(minutes=5))
    assert "techcheck.js" in web.get(reverse("tech_check", args=[token])).content.decode()


# --- Probes -------------------------------------------------------------------------------------


def test_ping_answers_empty_and_uncached(web, token):
    response = web.get(reverse("tech_check_ping", args=[token]))
    assert response.status_code == 204
    assert response.content == b""
    assert "no-store" in response["Cache-Control"]


def test_probes_refuse_unknown_tokens(web):
    for name in ("tech_check_ping", "tech_check_download"):
        assert web.get(reverse(name, args=["nope"])).status_code == 404
    response = web.post(
        reverse("tech_check_upload", args=["nope"]), b"x", content_type="application/octet-stream"
    )
    assert response.status_code == 404


def test_probes_refuse_a_cancelled_session(web, token, appointment):
    appointment_cancel(appointment=appointment)
    assert web.get(reverse("tech_check_ping", args=[token])).status_code == 410


def test_probes_only_accept_their_method(web, token):
    assert web.post(reverse("tech_check_ping", args=[token])).status_code == 405
    assert web.post(reverse("tech_check_download", args=[token])).status_code == 405
    assert web.get(reverse("tech_check_upload", args=[token])).status_code == 405
    assert web.get(reverse("tech_check_result", args=[token])).status_code == 405


def test_download_streams_exactly_the_bytes_asked_for(web, token):
    response = web.get(reverse("tech_check_download", args=[token]), {"bytes": "100000"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert len(body) == 100_000 == int(response["Content-Length"])
    assert "no-store" in response["Cache-Control"]
    # Random, so compression cannot fake a fast line: no byte value dominates.
    assert max(body.count(bytes([b])) for b in range(256)) < 2000


def test_download_defaults_to_the_probe_size(web, token):
    response = web.get(reverse("tech_check_download", args=[token]))
    assert int(response["Content-Length"]) == techcheck.DOWNLOAD_PROBE_BYTES


@pytest.mark.parametrize("size", [str(techcheck.DOWNLOAD_MAX_BYTES + 1), "0", "-5", "1e6", "lots", ""])
def test_download_size_is_capped_and_validated(web, token, size):
    response = web.get(reverse("tech_check_download", args=[token]), {"bytes": size})
    assert response.status_code == 400
    assert "bytes" in response.json()["fields"]


def test_download_at_the_cap_is_allowed(web, token):
    response = web.get(reverse("tech_check_download", args=[token]), {"bytes": techcheck.DOWNLOAD_MAX_BYTES})
    assert response.status_code == 200
    assert int(response["Content-Length"]) == techcheck.DOWNLOAD_MAX_BYTES


def test_upload_reads_and_discards_the_body(web, token):
    response = web.post(
        reverse("tech_check_upload", args=[token]), b"\x01" * 300_000, content_type="application/octet-stream"
    )
    assert response.status_code == 200
    assert response.json() == {"received": 300_000}


def test_upload_over_the_cap_is_refused(web, token):
    response = web.post(
        reverse("tech_check_upload", args=[token]),
        b"\x01" * (techcheck.UPLOAD_MAX_BYTES + 1),
        content_type="application/octet-stream",
    )
    assert response.status_code == 413


def test_upload_needs_the_csrf_token_from_the_page(token):
    browser = HttpClient(enforce_csrf_checks=True)
    url = reverse("tech_check_upload", args=[token])
    assert browser.post(url, b"x" * 10, content_type="application/octet-stream").status_code == 403
    page = browser.get(reverse("tech_check", args=[token])).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post(url, b"x" * 10, content_type="application/octet-stream", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200


# --- The result endpoint ------------------------------------------------------------------------


def test_passing_result_is_stored_as_passed_without_a_follow_up(web, token, participant):
    response = post_result(web, token, GOOD, HTTP_USER_AGENT="Mozilla/5.0 Test")
    assert response.status_code == 200
    assert response.json()["passed"] is True
    result = TechCheckResult.objects.get()
    assert result.participant == participant and result.practice_id == participant.appointment.practice_id
    assert result.passed and result.camera_ok and result.microphone_ok and result.network_ok
    assert result.details["rtt_ms"] == 40.0
    assert result.user_agent == "Mozilla/5.0 Test"
    assert not FollowUp.objects.exists()


def test_server_decides_failure_from_the_figures(web, token, participant):
    response = post_result(web, token, GOOD | {"upload_mbps": 0.3, "camera": "denied"})
    data = response.json()
    assert response.status_code == 200
    assert data["passed"] is False
    assert data["checks"] == {"browser": True, "camera": False, "microphone": True, "network": False}
    assert [p["code"] for p in data["problems"]] == ["camera_blocked", "slow_upload"]
    result = TechCheckResult.objects.get()
    assert not result.passed and not result.camera_ok and not result.network_ok
    assert result.problems == ["camera_blocked", "slow_upload"]
    follow_up = FollowUp.objects.get()
    assert follow_up.kind == FollowUpKind.TECH_CHECK_FAILED
    assert follow_up.participant == participant
    assert "Ann" not in follow_up.detail and "Avery" not in follow_up.detail


def test_a_passed_flag_from_the_page_is_rejected_not_trusted(web, token):
    response = post_result(web, token, GOOD | {"rtt_ms": 900, "passed": True})
    assert response.status_code == 400
    assert response.json()["fields"] == {"passed": "unknown field"}
    assert not TechCheckResult.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "",
        "[]",
        '"passed"',
        json.dumps(GOOD)[:-1],
        json.dumps(GOOD).replace("40.0", "NaN"),
        json.dumps(GOOD).replace("25.0", "Infinity"),
        "[" * 3000 + "]" * 3000,
        b"\xff\xfe\x00garbage",
    ],
    ids=["broken", "empty", "array", "string", "truncated", "nan", "infinity", "deep", "binary"],
)
def test_malformed_json_is_a_400_and_nothing_is_stored(web, token, body):
    response = post_result(web, token, body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert not TechCheckResult.objects.exists()


def test_missing_fields_are_a_400_naming_each_field(web, token):
    response = post_result(web, token, {"camera": "ok"})
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert "microphone" in fields and "rtt_ms" in fields and "camera" not in fields
    assert not TechCheckResult.objects.exists()


@pytest.mark.parametrize(
    "changes", [{"camera": True}, {"rtt_ms": "fast"}, {"secure_context": "yes"}, {"upload_mbps": [1]}]
)
def test_wrong_types_are_a_400_and_nothing_is_stored(web, token, changes):
    response = post_result(web, token, GOOD | changes)
    assert response.status_code == 400
    assert set(response.json()["fields"]) == set(changes)
    assert not TechCheckResult.objects.exists()


def test_oversize_result_is_a_400_and_nothing_is_stored(web, token):
    padded = json.dumps(GOOD)[:-1] + ', "padding": "' + "x" * techcheck.RESULT_MAX_BYTES + '"}'
    response = post_result(web, token, padded)
    assert response.status_code == 400
    assert "payload" in response.json()["fields"]
    assert not TechCheckResult.objects.exists()


def test_result_must_be_sent_as_json(web, token):
    response = web.post(reverse("tech_check_result", args=[token]), GOOD)  # a form post
    assert response.status_code == 400
    assert not TechCheckResult.objects.exists()


def test_result_for_unknown_token_is_404(web):
    assert post_result(web, "nope", GOOD).status_code == 404
    assert not TechCheckResult.objects.exists()


def test_result_for_a_cancelled_session_is_refused(web, token, appointment):
    appointment_cancel(appointment=appointment)
    assert post_result(web, token, GOOD | {"camera": "denied"}).status_code == 410
    assert not TechCheckResult.objects.exists()
    assert not FollowUp.objects.filter(kind=FollowUpKind.TECH_CHECK_FAILED).exists()


def test_result_needs_the_csrf_token(token):
    browser = HttpClient(enforce_csrf_checks=True)
    browser.get(reverse("tech_check", args=[token]))
    assert post_result(browser, token, GOOD).status_code == 403
    assert not TechCheckResult.objects.exists()


def test_results_are_limited_per_hour(web, token, participant):
    for _ in range(techcheck.MAX_RESULTS_PER_HOUR):
        tech_check_record(
            participant=participant,
            camera_ok=True,
            microphone_ok=True,
            browser_ok=True,
            network_ok=True,
            problems=[],
            details={},
        )
    assert post_result(web, token, GOOD).status_code == 429
    assert TechCheckResult.objects.count() == techcheck.MAX_RESULTS_PER_HOUR


def test_result_after_a_reschedule_is_recorded_for_the_new_session(
    web, token, appointment, tomorrow_10am, client_ann
):
    replacement = appointment_reschedule(appointment=appointment, starts_at=tomorrow_10am + timedelta(days=1))
    assert post_result(web, token, GOOD).status_code == 200
    result = TechCheckResult.objects.get()
    assert result.participant.appointment == replacement
    assert result.participant.client == client_ann

"""Web push (SPEC F9 step 5, F12): subscriptions from client pages, and the backend against a
local push service with real encryption (a browser's key pair and auth secret made here, the
body decrypted with http_ece exactly as a browser would)."""

from __future__ import annotations

import base64
import json
import os
import socket
from concurrent.futures import ThreadPoolExecutor

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.test import Client as HttpClient
from django.urls import include, path, reverse
from django.utils import timezone
from py_vapid import Vapid02

from messaging import push_views
from messaging.backends.base import ChannelError
from messaging.backends.webpush import (
    MAX_TTL_SECONDS,
    PushMessageData,
    WebPushBackend,
    vapid_public_key,
    webpush_configured,
)
from messaging.models import PushSubscription
from messaging.push import (
    MAX_ACTIVE_PER_CLIENT,
    push_fan_out,
    push_fan_out_record,
    push_subscription_revoke,
    push_subscription_save,
    push_subscriptions_for,
    push_targets_for,
)
from scheduling.services import appointment_book
from telehealth.services import join_link_for
from tests.messaging.push_service import FakePushService

# The push routes, until the lead adds them to messaging/urls.py (harmless afterwards).
urlpatterns = [
    path("push/public-key", push_views.push_public_key, name="push_public_key"),
    path("push-sw.js", push_views.push_service_worker, name="push_service_worker"),
    path("t/<str:token>/push", push_views.push_subscribe, name="push_subscribe"),
    path("", include("practice.urls")),
]
pytestmark = pytest.mark.urls(__name__)

SUBJECT = "mailto:ops@attend.example.org"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class Browser:
    """What a browser keeps for one push subscription: a P-256 key pair and an auth secret."""

    def __init__(self):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = os.urandom(16)
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.p256dh = b64url(public)
        self.auth = b64url(self.auth_secret)

    def decrypt(self, body: bytes) -> bytes:
        return http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
        )

    def subscription_json(self, endpoint: str) -> dict:
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        }


@pytest.fixture
def vapid_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(autouse=True)
def webpush_settings(settings, vapid_key):
    settings.WEBPUSH_VAPID_PRIVATE_KEY = vapid_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    settings.WEBPUSH_VAPID_SUBJECT = SUBJECT
    settings.WEBPUSH_ALLOW_INSECURE_ENDPOINTS = True  # the local push service speaks plain http
    settings.WEBPUSH_TIMEOUT_SECONDS = 2
    return settings


@pytest.fixture
def push_service():
    with FakePushService() as service:
        yield service


@pytest.fixture
def participant(practice, clinician, client_ann, service_type, tomorrow_10am):
    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=tomorrow_10am,
        service_type=service_type,
    )
    return appointment.participants.get()


@pytest.fixture
def subscribe_url(participant) -> str:
    return reverse("push_subscribe", args=[join_link_for(participant).token])


def post_json(url: str, data, http: HttpClient | None = None, **extra):
    body = data if isinstance(data, str | bytes) else json.dumps(data)
    return (http or HttpClient()).post(url, body, content_type="application/json", **extra)


def message_to(browser: Browser, endpoint: str, **overrides) -> PushMessageData:
    fields = {
        "endpoint": endpoint,
        "p256dh": browser.p256dh,
        "auth": browser.auth,
        "title": "Your session with Dr. Smith",
        "body": "Dr. Smith is ready for you. Tap to join.",
        "url": "https://attend.example.org/j/abc123",
        "ttl_seconds": 900,
    } | overrides
    return PushMessageData(**fields)


# --- Subscribing from a client page -----------------------------------------------------------------


def test_a_browser_subscription_is_stored_for_the_client(subscribe_url, participant, client_ann, practice):
    browser = Browser()
    response = post_json(
        subscribe_url,
        browser.subscription_json("https://fcm.googleapis.com/fcm/send/abc:def"),
        HTTP_USER_AGENT="Mozilla/5.0 (Android 14) Chrome/130",
    )

    assert response.status_code == 201
    assert response.json() == {"subscribed": True}
    subscription = PushSubscription.objects.get()
    assert subscription.client == client_ann
    assert subscription.practice == practice
    assert subscription.endpoint == "https://fcm.googleapis.com/fcm/send/abc:def"
    assert (subscription.p256dh, subscription.auth) == (browser.p256dh, browser.auth)
    assert subscription.user_agent == "Mozilla/5.0 (Android 14) Chrome/130"
    assert subscription.revoked_at is None
    assert push_subscriptions_for(client_ann) == [subscription]


def test_the_same_browser_subscribing_again_refreshes_its_keys_and_reactivates_it(participant):
    endpoint = "https://updates.push.services.mozilla.com/wpush/v2/gAAAA"
    first = push_subscription_save(
        participant=participant,
        endpoint=endpoint,
        p256dh=Browser().p256dh,
        auth=Browser().auth,
        user_agent="",
    )
    push_subscription_revoke(subscription=first)
    assert push_subscriptions_for(participant.client) == []

    browser = Browser()
    again = push_subscription_save(
        participant=participant,
        endpoint=endpoint,
        p256dh=browser.p256dh + "=",
        auth=browser.auth,
        user_agent="",
    )

    assert again.pk == first.pk
    again.refresh_from_db()
    assert again.revoked_at is None
    assert again.p256dh == browser.p256dh  # stored unpadded
    assert PushSubscription.objects.count() == 1


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://push.example.com/send/abc",  # plain http to a real host, never
        "ftp://push.example.com/abc",
        "javascript:alert(1)",
        "not a url",
        "https://fcm.googleapis.com/" + "a" * 1000,
        "https://intranet.example.com/admin/delete",  # not a push service: no requests to arbitrary URLs
        "https://fcm.googleapis.com.evil.example/x",
        "https://169.254.169.254/latest/meta-data",
    ],
)
def test_an_endpoint_that_is_not_https_is_refused_and_nothing_is_stored(subscribe_url, endpoint):
    response = post_json(subscribe_url, Browser().subscription_json(endpoint))

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"endpoint"}
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",  # Chrome, Edge, Opera
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",  # Firefox
        "https://web.push.apple.com/QGx1Y2t5",  # Safari
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAA",  # legacy Edge
    ],
)
def test_the_browsers_push_services_are_accepted(subscribe_url, endpoint):
    assert post_json(subscribe_url, Browser().subscription_json(endpoint)).status_code == 201


def test_a_local_http_endpoint_is_refused_unless_allowed(settings, subscribe_url):
    settings.WEBPUSH_ALLOW_INSECURE_ENDPOINTS = False
    settings.DEBUG = False
    local = Browser().subscription_json("http://127.0.0.1:8099/push/abc")

    assert post_json(subscribe_url, local).status_code == 400

    settings.WEBPUSH_ALLOW_INSECURE_ENDPOINTS = True
    assert post_json(subscribe_url, local).status_code == 201


@pytest.mark.parametrize(
    ("p256dh", "auth", "bad"),
    [
        (b64url(b"\x04" + b"\x07" * 63), None, {"p256dh"}),  # 64 bytes
        (b64url(b"\x04" + b"\x07" * 65), None, {"p256dh"}),  # 66 bytes
        (None, b64url(b"\x07" * 15), {"auth"}),
        (None, b64url(b"\x07" * 17), {"auth"}),
        ("not+base64/url!", "also bad!", {"p256dh", "auth"}),
        (b64url(b"\x04" + b"\x01" * 64), None, {"p256dh"}),  # 65 bytes but not a point on P-256
        ("", "", {"p256dh", "auth"}),
    ],
    ids=[
        "p256dh-64-bytes",
        "p256dh-66-bytes",
        "auth-15-bytes",
        "auth-17-bytes",
        "not-base64url",
        "off-curve",
        "empty",
    ],
)
def test_keys_of_the_wrong_length_or_encoding_are_refused_with_field_errors(subscribe_url, p256dh, auth, bad):
    browser = Browser()
    data = browser.subscription_json("https://fcm.googleapis.com/fcm/send/x")
    data["keys"] = {"p256dh": p256dh if p256dh is not None else browser.p256dh, "auth": auth or browser.auth}
    if auth == "":
        data["keys"]["auth"] = ""

    response = post_json(subscribe_url, data)

    assert response.status_code == 400
    assert set(response.json()["fields"]) == bad
    assert not PushSubscription.objects.exists()


def test_the_service_raises_field_errors_too(participant):
    with pytest.raises(ValidationError) as raised:
        push_subscription_save(
            participant=participant,
            endpoint="http://evil.example/x",
            p256dh="AAAA",
            auth="AAAA",
            user_agent="",
        )
    assert set(raised.value.message_dict) == {"endpoint", "p256dh", "auth"}
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        '"just a string"',
        "",
        json.dumps({"endpoint": "https://fcm.googleapis.com/fcm/send/x"}),  # no keys
        json.dumps(
            {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": 5, "auth": None}}
        ),
        json.dumps({"endpoint": "x" * 5000}),  # too large
    ],
)
def test_malformed_input_is_a_400_and_nothing_is_stored(subscribe_url, body):
    response = post_json(subscribe_url, body)

    assert response.status_code == 400
    assert "error" in response.json()
    assert not PushSubscription.objects.exists()


def test_missing_fields_are_named(subscribe_url):
    response = post_json(subscribe_url, {"keys": {"auth": Browser().auth}})

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"endpoint", "p256dh"}


def test_an_unknown_token_is_a_404_and_nothing_is_stored(participant):
    url = reverse("push_subscribe", args=["not-a-real-token"])
    response = post_json(url, Browser().subscription_json("https://fcm.googleapis.com/fcm/send/x"))

    assert response.status_code == 404
    assert response.json()["error"]
    assert not PushSubscription.objects.exists()


def test_subscribing_needs_post_and_the_pages_csrf_token(subscribe_url):
    assert HttpClient().get(subscribe_url).status_code == 405
    strict = HttpClient(enforce_csrf_checks=True)
    data = Browser().subscription_json("https://fcm.googleapis.com/fcm/send/x")
    assert post_json(subscribe_url, data, strict).status_code == 403
    assert not PushSubscription.objects.exists()


def test_a_client_keeps_at_most_a_handful_of_active_subscriptions(participant):
    browser = Browser()
    for n in range(MAX_ACTIVE_PER_CLIENT + 3):
        push_subscription_save(
            participant=participant,
            endpoint=f"https://fcm.googleapis.com/fcm/send/{n}",
            p256dh=browser.p256dh,
            auth=browser.auth,
            user_agent="",
        )

    active = push_subscriptions_for(participant.client)
    assert len(active) == MAX_ACTIVE_PER_CLIENT
    assert PushSubscription.objects.count() == MAX_ACTIVE_PER_CLIENT  # the table does not grow
    assert active[-1].endpoint.endswith(f"/{MAX_ACTIVE_PER_CLIENT + 2}")  # the newest is kept


def test_subscriptions_are_per_client(participant, client_bob, other_client):
    browser = Browser()
    push_subscription_save(
        participant=participant,
        endpoint="https://fcm.googleapis.com/fcm/send/ann",
        p256dh=browser.p256dh,
        auth=browser.auth,
        user_agent="",
    )
    assert push_subscriptions_for(client_bob) == []
    assert push_subscriptions_for(other_client) == []
    assert PushSubscription.objects.for_practice(other_client.practice).count() == 0


# --- Public key and service worker -------------------------------------------------------------------


def test_the_public_key_is_the_vapid_keys_public_half_as_an_application_server_key(vapid_key):
    response = HttpClient().get(reverse("push_public_key"))

    assert response.status_code == 200
    key = b64url_decode(response.json()["public_key"])
    expected = vapid_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert key == expected and len(key) == 65


def test_without_a_vapid_key_the_public_key_is_unavailable(settings):
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    response = HttpClient().get(reverse("push_public_key"))
    assert response.status_code == 503


def test_the_service_worker_is_served_from_the_root_with_its_scope_allowed():
    response = HttpClient().get(reverse("push_service_worker"))

    assert reverse("push_service_worker") == "/push-sw.js"
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    source = response.content.decode()
    assert 'addEventListener("push"' in source and 'addEventListener("notificationclick"' in source


# --- Settings ---------------------------------------------------------------------------------------


def test_missing_vapid_settings_fail_loudly(settings):
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="WEBPUSH_VAPID_PRIVATE_KEY"):
        WebPushBackend()
    del settings.WEBPUSH_VAPID_PRIVATE_KEY
    with pytest.raises(ImproperlyConfigured, match="WEBPUSH_VAPID_PRIVATE_KEY"):
        WebPushBackend()


def test_a_missing_or_bad_subject_fails_loudly(settings):
    assert webpush_configured()
    settings.WEBPUSH_VAPID_SUBJECT = "ops@attend.example.org"
    with pytest.raises(ImproperlyConfigured, match="WEBPUSH_VAPID_SUBJECT"):
        WebPushBackend()
    assert not webpush_configured()


def test_a_key_that_is_not_a_p256_key_fails_loudly(settings):
    settings.WEBPUSH_VAPID_PRIVATE_KEY = "definitely-not-a-key"
    with pytest.raises(ImproperlyConfigured, match="not a P-256 private key"):
        WebPushBackend()


def test_a_raw_base64url_private_key_works_like_the_pem(settings, vapid_key):
    pem_public = vapid_public_key()
    raw = vapid_key.private_numbers().private_value.to_bytes(32, "big")
    settings.WEBPUSH_VAPID_PRIVATE_KEY = b64url(raw)

    assert vapid_public_key() == pem_public
    WebPushBackend()


def test_a_pem_with_escaped_newlines_from_the_environment_works(settings):
    expected = vapid_public_key()
    settings.WEBPUSH_VAPID_PRIVATE_KEY = settings.WEBPUSH_VAPID_PRIVATE_KEY.replace("\n", "\\n")
    assert vapid_public_key() == expected


# --- The backend against a push service -----------------------------------------------------------


def test_the_notification_is_encrypted_to_the_browser_and_signed_with_vapid(push_service):
    browser = Browser()
    endpoint = push_service.endpoint("sub1")

    result = WebPushBackend().send(message_to(browser, endpoint, ttl_seconds=900))

    assert result.status == "accepted"
    assert result.provider_message_id == "push:" + push_service.issued_ids[0]
    (request,) = push_service.requests
    assert request.path == "/push/sub1"
    assert request.headers["ttl"] == "900"
    assert request.headers["urgency"] == "high"
    assert request.headers["content-encoding"] == "aes128gcm"

    # Authorization: vapid t=<JWT>, k=<public key> (RFC 8292), signed by our VAPID key.
    scheme, _, params = request.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(part.strip().split("=", 1) for part in params.split(","))
    assert parts["k"] == vapid_public_key()
    assert Vapid02.verify(request.headers["authorization"])
    claims = jwt.decode(parts["t"], options={"verify_signature": False})
    assert claims["aud"] == push_service.base_url
    assert claims["sub"] == SUBJECT
    assert timezone.now().timestamp() < claims["exp"] <= timezone.now().timestamp() + 24 * 3600

    # Only the browser can read the body, and it says exactly this.
    payload = json.loads(browser.decrypt(request.body))
    assert payload == {
        "title": "Your session with Dr. Smith",
        "body": "Dr. Smith is ready for you. Tap to join.",
        "url": "https://attend.example.org/j/abc123",
    }


def test_another_browsers_keys_cannot_read_the_notification(push_service):
    browser, stranger = Browser(), Browser()
    WebPushBackend().send(message_to(browser, push_service.endpoint()))

    with pytest.raises(Exception):  # noqa: B017 - any decryption failure
        http_ece.decrypt(
            push_service.requests[0].body,
            private_key=stranger.private_key,
            auth_secret=browser.auth_secret,
            version="aes128gcm",
        )


@pytest.mark.parametrize(("ttl", "header"), [(-30, "0"), (0, "0"), (10**9, str(MAX_TTL_SECONDS))])
def test_the_ttl_is_kept_within_what_push_services_accept(push_service, ttl, header):
    WebPushBackend().send(message_to(Browser(), push_service.endpoint(), ttl_seconds=ttl))
    assert push_service.requests[0].headers["ttl"] == header


def test_a_long_body_is_shortened_but_the_link_is_kept(push_service):
    browser = Browser()
    WebPushBackend().send(message_to(browser, push_service.endpoint(), body="é" * 5000))

    request = push_service.requests[0]
    assert len(request.body) <= 4096
    payload = json.loads(browser.decrypt(request.body))
    assert payload["url"] == "https://attend.example.org/j/abc123"
    assert payload["body"].endswith("…") and len(payload["body"]) < 5000


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_a_permanent_gone_error(push_service, status):
    push_service.answer_next(status)
    with pytest.raises(ChannelError) as raised:
        WebPushBackend().send(message_to(Browser(), push_service.endpoint()))
    assert raised.value.permanent and not raised.value.ambiguous
    assert raised.value.code == "gone"


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_throttling_and_server_errors_are_transient(push_service, status):
    push_service.answer_next(status, retry_after=5)
    with pytest.raises(ChannelError) as raised:
        WebPushBackend().send(message_to(Browser(), push_service.endpoint()))
    assert not raised.value.permanent and not raised.value.ambiguous
    assert raised.value.code == str(status)


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_other_refusals_are_permanent(push_service, status):
    push_service.answer_next(status)
    with pytest.raises(ChannelError) as raised:
        WebPushBackend().send(message_to(Browser(), push_service.endpoint()))
    assert raised.value.permanent and raised.value.code == str(status)


def test_a_redirect_is_not_followed(push_service):
    push_service.answer_next(307, headers={"Location": push_service.endpoint("elsewhere")})
    with pytest.raises(ChannelError) as raised:
        WebPushBackend().send(message_to(Browser(), push_service.endpoint("here")))
    assert raised.value.permanent and raised.value.code == "redirect"
    assert [request.path for request in push_service.requests] == ["/push/here"]


def test_no_answer_after_sending_is_ambiguous(settings, push_service):
    settings.WEBPUSH_TIMEOUT_SECONDS = 0.5
    push_service.hang_next(10)
    with pytest.raises(ChannelError) as raised:
        WebPushBackend().send(message_to(Browser(), push_service.endpoint()))
    assert raised.value.ambiguous and not raised.value.permanent
    assert raised.value.code == "timeout"
    assert len(push_service.requests) == 1  # the push service did get it


def test_an_unreachable_push_service_is_transient_and_not_ambiguous():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ChannelError) as raised:
        WebPushBackend().send(message_to(Browser(), f"http://127.0.0.1:{port}/push/x"))
    assert not raised.value.permanent and not raised.value.ambiguous
    assert raised.value.code == "unreachable"


def test_unusable_subscription_keys_are_a_permanent_error(push_service):
    with pytest.raises(ChannelError) as raised:
        WebPushBackend().send(
            message_to(Browser(), push_service.endpoint(), p256dh=b64url(b"\x04" + b"\1" * 64))
        )
    assert raised.value.permanent and raised.value.code == "bad_subscription"
    assert push_service.requests == []


def test_errors_name_no_endpoint_or_payload(push_service, caplog):
    browser = Browser()
    endpoint = push_service.endpoint("secret-subscription-id")
    push_service.answer_next(500)
    with pytest.raises(ChannelError) as raised:
        WebPushBackend().send(message_to(browser, endpoint))
    text = str(raised.value) + caplog.text
    assert "secret-subscription-id" not in text
    assert "Dr. Smith" not in text and browser.p256dh not in text


def test_one_backend_sends_from_many_threads_at_once(push_service):
    backend = WebPushBackend()
    browsers = [Browser() for _ in range(24)]

    def send(numbered):
        n, browser = numbered
        return backend.send(message_to(browser, push_service.endpoint(f"b{n}"), body=f"message {n}"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(send, enumerate(browsers)))

    assert len({result.provider_message_id for result in results}) == 24
    by_path = {request.path: request for request in push_service.requests}
    for n, browser in enumerate(browsers):
        payload = json.loads(browser.decrypt(by_path[f"/push/b{n}"].body))
        assert payload["body"] == f"message {n}"


# --- Sending to every browser of a client ------------------------------------------------------------


def _subscribe(participant, endpoint: str, browser: Browser | None = None) -> PushSubscription:
    browser = browser or Browser()
    return push_subscription_save(
        participant=participant, endpoint=endpoint, p256dh=browser.p256dh, auth=browser.auth, user_agent=""
    )


def _targets(client):
    return push_targets_for(
        client=client,
        title="Time to join",
        body="Dr. Smith is ready.",
        url="https://x.test/j/t",
        ttl_seconds=300,
    )


def test_a_push_reaches_every_browser_and_a_gone_one_is_revoked(participant, push_service):
    phone, laptop = Browser(), Browser()
    gone = _subscribe(participant, push_service.endpoint("phone"), phone)
    kept = _subscribe(participant, push_service.endpoint("laptop"), laptop)
    push_service.answer_next(410)  # the phone's subscription (oldest first) is gone

    fan_out = push_fan_out(backend=WebPushBackend(), targets=_targets(participant.client))
    now = timezone.now()
    push_fan_out_record(fan_out=fan_out, now=now)

    outcome = fan_out.outcome()
    assert not isinstance(outcome, ChannelError) and outcome.status == "accepted"
    gone.refresh_from_db()
    kept.refresh_from_db()
    assert gone.revoked_at == now and gone.last_success_at is None
    assert kept.revoked_at is None and kept.last_success_at == now
    assert push_subscriptions_for(participant.client) == [kept]
    assert json.loads(laptop.decrypt(push_service.requests[1].body))["title"] == "Time to join"


def test_when_every_subscription_is_gone_the_outcome_is_permanent_gone(participant, push_service):
    _subscribe(participant, push_service.endpoint("a"))
    _subscribe(participant, push_service.endpoint("b"))
    push_service.answer_next(410)
    push_service.answer_next(404)

    fan_out = push_fan_out(backend=WebPushBackend(), targets=_targets(participant.client))
    push_fan_out_record(fan_out=fan_out, now=timezone.now())

    outcome = fan_out.outcome()
    assert isinstance(outcome, ChannelError) and outcome.permanent and outcome.code == "gone"
    assert push_subscriptions_for(participant.client) == []


def test_a_transient_failure_with_nothing_accepted_is_retried(participant, push_service):
    _subscribe(participant, push_service.endpoint("a"))
    _subscribe(participant, push_service.endpoint("b"))
    push_service.answer_next(410)
    push_service.answer_next(503)

    outcome = push_fan_out(backend=WebPushBackend(), targets=_targets(participant.client)).outcome()

    assert isinstance(outcome, ChannelError) and not outcome.permanent and not outcome.ambiguous


def test_an_ambiguous_failure_with_nothing_accepted_is_never_resent(settings, participant, push_service):
    settings.WEBPUSH_TIMEOUT_SECONDS = 0.5
    _subscribe(participant, push_service.endpoint("a"))
    _subscribe(participant, push_service.endpoint("b"))
    push_service.hang_next(10)
    push_service.answer_next(500)

    outcome = push_fan_out(backend=WebPushBackend(), targets=_targets(participant.client)).outcome()

    assert isinstance(outcome, ChannelError) and outcome.ambiguous


def test_revoked_subscriptions_get_nothing(participant, push_service):
    revoked = _subscribe(participant, push_service.endpoint("old"))
    push_subscription_revoke(subscription=revoked)
    assert push_subscription_revoke(subscription=revoked) is False

    assert _targets(participant.client) == []
    outcome = push_fan_out(backend=WebPushBackend(), targets=[]).outcome()
    assert isinstance(outcome, ChannelError) and outcome.permanent
    assert push_service.requests == []

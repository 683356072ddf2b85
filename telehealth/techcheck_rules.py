"""What the tech-check measurements mean: pure functions, no I/O (SPEC F8).

The page only measures; this module decides pass or fail and words the problems and
fixes, so a tampered page cannot declare itself "passed" and the wording lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from django.utils.translation import gettext_lazy as _

# Round trip to our server. Conversation starts to feel laggy above ~300 ms (ITU-T G.114
# puts the comfortable limit at 150 ms one way).
MAX_RTT_MS = 300
# One-to-one HD video needs about 1.2-1.5 Mbit/s each way (Zoom and Doxy.me both publish
# figures in this range); the upload side is allowed a little less because providers
# scale the client's own video down first.
MIN_DOWNLOAD_MBPS = 1.5
MIN_UPLOAD_MBPS = 1.0
# Peak microphone level (0..1) below which we suspect a muted or wrong microphone. Only a
# tip: a client in a quiet room who said nothing has a working microphone.
QUIET_MIC_LEVEL = 0.02

# The client's words, in the language of their page (practice.client_language); lazy, so each
# is worded when the answer is written.
NETWORK_FIX = _(
    "Move closer to your Wi-Fi router (or switch from mobile data to Wi-Fi), close other apps "
    "and tabs that use the internet, such as videos, games or downloads, then run the check again."
)
ALLOW_FIX = _(
    "Tap the camera or lock icon next to the web address, choose Allow for the camera and the "
    "microphone, then reload this page. On an iPhone or iPad: Settings, then Safari, then Camera "
    "and Microphone, and choose Allow."
)
BROWSER_FIX = _(
    "Open this link in an up-to-date Chrome, Edge, Firefox or Safari. On an iPhone or iPad, use Safari. "
    "Apps such as Facebook or Instagram open links in a built-in browser that cannot use the camera: "
    "choose Open in browser."
)


class DeviceStatus(StrEnum):
    """What happened when the page asked for a camera or microphone."""

    OK = "ok"
    DENIED = "denied"  # the person or the browser settings blocked access
    NOT_FOUND = "not_found"  # no such device
    IN_USE = "in_use"  # another app holds it
    ERROR = "error"  # anything else
    UNSUPPORTED = "unsupported"  # the browser cannot ask at all


class Check(StrEnum):
    BROWSER = "browser"
    CAMERA = "camera"
    MICROPHONE = "microphone"
    NETWORK = "network"


@dataclass(frozen=True)
class Measurements:
    """What the page measured. ``None`` means a network figure could not be measured."""

    secure_context: bool
    get_user_media: bool
    rtc_peer_connection: bool
    camera: DeviceStatus
    microphone: DeviceStatus
    mic_level: float | None
    rtt_ms: float | None
    download_mbps: float | None
    upload_mbps: float | None


@dataclass(frozen=True)
class Problem:
    code: str  # stable, stored and shown to staff; never contains client data
    check: Check
    title: str
    fix: str


@dataclass(frozen=True)
class Evaluation:
    checks: dict[Check, bool]
    problems: tuple[Problem, ...]
    tips: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    @property
    def problem_codes(self) -> list[str]:
        return [problem.code for problem in self.problems]


def browser_problems(m: Measurements) -> list[Problem]:
    if not m.secure_context:
        return [
            Problem(
                "insecure_page",
                Check.BROWSER,
                _("This page was not opened securely, so the browser will not share the camera."),
                _("Open the link exactly as it was sent to you (it starts with https://)."),
            )
        ]
    if not (m.get_user_media and m.rtc_peer_connection):
        return [
            Problem(
                "unsupported_browser", Check.BROWSER, _("This browser can't do video calls."), BROWSER_FIX
            )
        ]
    return []


_DEVICE_WORDS = {Check.CAMERA: "camera", Check.MICROPHONE: "microphone"}
# Whole sentences per device (other languages give each device its own article and gender).
_DEVICE_TITLES = {
    (Check.CAMERA, DeviceStatus.DENIED): _("Your browser is blocking the camera."),
    (Check.MICROPHONE, DeviceStatus.DENIED): _("Your browser is blocking the microphone."),
    (Check.CAMERA, DeviceStatus.NOT_FOUND): _("We couldn't find a camera."),
    (Check.MICROPHONE, DeviceStatus.NOT_FOUND): _("We couldn't find a microphone."),
    (Check.CAMERA, DeviceStatus.IN_USE): _("Another app is using the camera."),
    (Check.MICROPHONE, DeviceStatus.IN_USE): _("Another app is using the microphone."),
    (Check.CAMERA, DeviceStatus.ERROR): _("The camera didn't start."),
    (Check.MICROPHONE, DeviceStatus.ERROR): _("The microphone didn't start."),
}
_NOT_FOUND_FIXES = {
    Check.CAMERA: _(
        "Plug in or switch on a camera. On a laptop, check it isn't covered or turned off "
        "in the settings. Or use a phone or tablet instead."
    ),
    Check.MICROPHONE: _(
        "Plug in or switch on a microphone. On a laptop, check it isn't covered or turned off "
        "in the settings. Or use a phone or tablet instead."
    ),
}


def device_problems(check: Check, status: DeviceStatus) -> list[Problem]:
    """The problem with one device; an unsupported browser is reported once, as a browser problem."""
    word = _DEVICE_WORDS[check]
    if status in (DeviceStatus.OK, DeviceStatus.UNSUPPORTED):
        return []
    if status == DeviceStatus.DENIED:
        return [Problem(f"{word}_blocked", check, _DEVICE_TITLES[check, status], ALLOW_FIX)]
    if status == DeviceStatus.NOT_FOUND:
        return [
            Problem(
                f"{word}_not_found",
                check,
                _DEVICE_TITLES[check, status],
                _NOT_FOUND_FIXES[check],
            )
        ]
    if status == DeviceStatus.IN_USE:
        return [
            Problem(
                f"{word}_in_use",
                check,
                _DEVICE_TITLES[check, status],
                _(
                    "Close other video apps (Zoom, Teams, FaceTime, Skype) and other browser tabs, "
                    "then run the check again."
                ),
            )
        ]
    return [
        Problem(
            f"{word}_error",
            check,
            _DEVICE_TITLES[check, DeviceStatus.ERROR],
            _(
                "Close and reopen your browser and run the check again. "
                "If it still fails, restart the device."
            ),
        )
    ]


def network_problems(m: Measurements) -> list[Problem]:
    if m.rtt_ms is None and m.download_mbps is None and m.upload_mbps is None:
        return [
            Problem(
                "network_untested",
                Check.NETWORK,
                _("We couldn't test your connection."),
                _("Check that you are online, then run the check again."),
            )
        ]
    problems = []
    if m.rtt_ms is None or m.rtt_ms > MAX_RTT_MS:
        problems.append(
            Problem("slow_response", Check.NETWORK, _("Your connection is slow to respond."), NETWORK_FIX)
        )
    if m.download_mbps is None or m.download_mbps < MIN_DOWNLOAD_MBPS:
        problems.append(
            Problem(
                "slow_download",
                Check.NETWORK,
                _("Your connection is too slow to receive video."),
                NETWORK_FIX,
            )
        )
    if m.upload_mbps is None or m.upload_mbps < MIN_UPLOAD_MBPS:
        problems.append(
            Problem(
                "slow_upload", Check.NETWORK, _("Your connection is too slow to send video."), NETWORK_FIX
            )
        )
    return problems


def tips(m: Measurements) -> list[str]:
    if m.microphone == DeviceStatus.OK and m.mic_level is not None and m.mic_level < QUIET_MIC_LEVEL:
        return [
            _(
                "We could hardly hear you. Check that your microphone isn't muted, and say something "
                "to see the level bar move."
            )
        ]
    return []


def evaluate(m: Measurements) -> Evaluation:
    by_check = {
        Check.BROWSER: browser_problems(m),
        Check.CAMERA: device_problems(Check.CAMERA, m.camera),
        Check.MICROPHONE: device_problems(Check.MICROPHONE, m.microphone),
        Check.NETWORK: network_problems(m),
    }
    checks = {
        Check.BROWSER: not by_check[Check.BROWSER],
        Check.CAMERA: m.camera == DeviceStatus.OK,
        Check.MICROPHONE: m.microphone == DeviceStatus.OK,
        Check.NETWORK: not by_check[Check.NETWORK],
    }
    problems = tuple(problem for found in by_check.values() for problem in found)
    return Evaluation(checks=checks, problems=problems, tips=tuple(tips(m)))


# --- The page's JSON payload -> Measurements ----------------------------------------------------

# Upper bounds of plausible figures; anything above is a broken or tampered page.
MAX_PLAUSIBLE_RTT_MS = 60_000
MAX_PLAUSIBLE_MBPS = 100_000
_BOOLEAN_FIELDS = ("secure_context", "get_user_media", "rtc_peer_connection")
_DEVICE_FIELDS = ("camera", "microphone")
# field -> (lowest, highest) for numbers that may be null (not measured).
_NUMBER_FIELDS = {
    "mic_level": (0, 1),
    "rtt_ms": (0, MAX_PLAUSIBLE_RTT_MS),
    "download_mbps": (0, MAX_PLAUSIBLE_MBPS),
    "upload_mbps": (0, MAX_PLAUSIBLE_MBPS),
}
PAYLOAD_FIELDS = frozenset(_BOOLEAN_FIELDS + _DEVICE_FIELDS + tuple(_NUMBER_FIELDS))


class PayloadError(ValueError):
    """The payload is not what the page sends; ``fields`` maps each field to its error."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{name}: {error}" for name, error in sorted(fields.items())))
        self.fields = fields


def _boolean_error(value) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _device_error(value) -> str | None:
    if isinstance(value, str) and value in DeviceStatus._value2member_map_:
        return None
    return "must be one of " + ", ".join(DeviceStatus)


def _number_error(value, lowest: float, highest: float) -> str | None:
    if value is None:
        return None
    # bool is an int in Python; true/false is not a measurement.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number or null"
    if not lowest <= value <= highest:
        return f"must be between {lowest} and {highest}"
    return None


def _field_errors(payload: dict) -> dict[str, str]:
    errors = {name: "unknown field" for name in payload.keys() - PAYLOAD_FIELDS}
    errors |= {name: "is required" for name in PAYLOAD_FIELDS - payload.keys()}
    for name in _BOOLEAN_FIELDS:
        if name in payload and (error := _boolean_error(payload[name])):
            errors[name] = error
    for name in _DEVICE_FIELDS:
        if name in payload and (error := _device_error(payload[name])):
            errors[name] = error
    for name, (lowest, highest) in _NUMBER_FIELDS.items():
        if name in payload and (error := _number_error(payload[name], lowest, highest)):
            errors[name] = error
    return errors


def measurements_from_payload(payload) -> Measurements:
    """Strictly validate the decoded JSON the page posts; raise PayloadError on anything else."""
    if not isinstance(payload, dict):
        raise PayloadError({"payload": "must be a JSON object"})
    errors = _field_errors(payload)
    if errors:
        raise PayloadError(errors)
    numbers = {name: None if payload[name] is None else float(payload[name]) for name in _NUMBER_FIELDS}
    return Measurements(
        secure_context=payload["secure_context"],
        get_user_media=payload["get_user_media"],
        rtc_peer_connection=payload["rtc_peer_connection"],
        camera=DeviceStatus(payload["camera"]),
        microphone=DeviceStatus(payload["microphone"]),
        **numbers,
    )


# --- Wording for staff ---------------------------------------------------------------------------

# What each stored problem code means, said to the front desk or clinician about the client
# (the titles above speak to the client). Codes not listed are shown as they are.
STAFF_WORDING = {
    "insecure_page": "Opened the link insecurely (not https), so the browser blocked the camera",
    "unsupported_browser": "Browser can't do video calls",
    "camera_blocked": "Camera blocked by the browser",
    "camera_not_found": "No camera found",
    "camera_in_use": "Camera in use by another app",
    "camera_error": "Camera didn't start",
    "microphone_blocked": "Microphone blocked by the browser",
    "microphone_not_found": "No microphone found",
    "microphone_in_use": "Microphone in use by another app",
    "microphone_error": "Microphone didn't start",
    "network_untested": "Connection couldn't be tested (offline?)",
    "slow_response": "Connection slow to respond",
    "slow_download": "Connection too slow to receive video",
    "slow_upload": "Connection too slow to send video",
}


def staff_wording(codes) -> list[str]:
    """Plain-language lines for stored problem codes, in the order stored."""
    return [STAFF_WORDING.get(code, str(code).replace("_", " ").capitalize()) for code in codes or ()]

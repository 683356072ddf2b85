"""The hostile-input crawl (issue 17): every route of the URLconf, every parameter, form field and
JSON field, filled from tests/hardening/corpus.py, as every kind of caller.

It walks ``django.urls.get_resolver()``, so a route added later is crawled without a change
here. For each route it fills the path parameters (this practice's ids, the other practice's,
huge ones; real link tokens and hostile strings), reads the page's forms to learn the query and
form fields (``<input>``, ``<select>``, ``<textarea>``), and the OpenAPI schema for the API's
bodies and query parameters; webhooks are sent with valid signatures. Then it asserts:

- no answer is a 5xx (and no exception escapes a view);
- nothing stored holds a NUL byte or a lone surrogate (PostgreSQL refuses both; SQLite keeps
  them, so a test on SQLite alone would not notice);
- no phone number field holds an invalid number.

It is bounded: each field gets the values meant for its kind plus a deterministic sample of
the rest (``corpus.sample``); ``CRAWL_SAMPLE`` (environment) widens or narrows the sample.
"""

from __future__ import annotations

import collections
import csv
import hashlib
import hmac
import inspect
import io
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import quote, urlencode, urlsplit

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern
from twilio.request_validator import RequestValidator

from scheduling.ehr import sign as ehr_sign
from tests.conftest import verified_session
from tests.hardening import corpus
from tests.hardening.storage import bad_rows, high_water
from tests.hardening.world import PRACTICE_NUMBER, SITE_URL, TWILIO_TOKEN, ZOOM_SECRET, World, build_world

pytestmark = pytest.mark.django_db

SAMPLE = int(os.environ.get("CRAWL_SAMPLE", "1"))
ONLY = os.environ.get("CRAWL_ONLY", "")  # a regex on route names, to crawl a few routes while debugging

# Routes the crawl leaves alone, each with the reason. Keep this short: a route that needs
# special handling gets it below instead.
SKIP = {
    "logout": "signs the crawler's sessions out; crawled as anonymous only (below)",
    "push_service_worker": "a static JavaScript file",
}
# The operator console (Django admin) is crawled with GET: its changelists with hostile search,
# ordering, page and filter parameters, and each change page with real and hostile ids. Its
# POST forms are Django admin's ModelForms over the models' own validation.
ADMIN_POST_REASON = "operator console forms: crawled by GET only (bounded time)"

OTHER_ROLES = ["owner", "front_desk", "clinician", "biller"]
# Query keys tried on every page, besides those its own forms name.
COMMON_QUERY = ["date", "page"]
ADMIN_QUERY = ["q", "o", "p"]
LINK_SEGMENTS = {"a", "j", "t", "p", "s", "cal"}
# A path segment → the model its <int:…> parameter names, where the name does not say it.
SEGMENT_MODELS = {
    "queue": "scheduling.FollowUp",
    "participants": "scheduling.AppointmentParticipant",
    "participant_pk": "scheduling.AppointmentParticipant",
    "steps": "messaging.Step",
    "api-tokens": "practice.ApiToken",
    "deliveries": "integrations.WebhookDelivery",
    "webhooks": "integrations.WebhookEndpoint",
    "clinicians": "practice.ClinicianProfile",
    "clients": "practice.Client",
    "appointments": "scheduling.Appointment",
    "series": "scheduling.Series",
}
PLACEHOLDER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
QUERY_READ = re.compile(r"""GET(?:\.get|\.getlist)?[(\[]\s*["'](\w+)["']""")
QUERY_TEST = re.compile(r"""["'](\w+)["']\s+(?:not\s+)?in\s+request\.GET""")


# --- Routes ----------------------------------------------------------------------------------------


@dataclass
class Route:
    pattern: str  # "/clients/<int:pk>/"
    name: str
    converters: dict[str, str]  # parameter → converter name

    @property
    def params(self) -> list[tuple[str, str]]:
        return [(m["name"], m["converter"] or "str") for m in PLACEHOLDER.finditer(self.pattern)]

    @property
    def is_admin(self) -> bool:
        return self.pattern.startswith("/admin/")

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("/api/")


def _regex_literal(regex: str) -> str | None:
    """A path for a regex pattern: groups made of alternatives take the first one; other groups
    make the pattern one the crawl cannot fill (None)."""
    text = regex.lstrip("^").rstrip("$").replace("\\Z", "")

    def fill(match):
        inner = match.group(1)
        return inner.split("|")[0] if re.fullmatch(r"[\w|-]+", inner) else "x"

    text = re.sub(r"\(\?P<\w+>([^()]*)\)", fill, text)
    if re.search(r"[()\[\]*+?\\]", text):
        return None
    return text


def discover_routes() -> tuple[list[Route], list[str]]:
    routes, unfilled = [], []

    def walk(patterns, prefix: str, namespace: str):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                part = str(entry.pattern)
                if isinstance(entry.pattern, RegexPattern):
                    part = _regex_literal(part)
                    if part is None:
                        unfilled.append(prefix + str(entry.pattern))
                        continue
                space = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, prefix + part, space)
            elif isinstance(entry, URLPattern):
                part = str(entry.pattern)
                if isinstance(entry.pattern, RegexPattern):
                    part = _regex_literal(part)
                    if part is None:
                        unfilled.append(prefix + str(entry.pattern))
                        continue
                    part = part or ""
                name = f"{namespace}{entry.name}" if entry.name else prefix + str(entry.pattern)
                routes.append(Route(pattern="/" + prefix + part, name=name, converters={}))

    walk(get_resolver().url_patterns, "", "")
    return routes, unfilled


# --- Forms on a page -------------------------------------------------------------------------------


@dataclass
class Form:
    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)  # name → a valid-looking default
    kinds: dict[str, str] = field(default_factory=dict)  # name → input type / "select"
    options: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


class FormParser(HTMLParser):
    def __init__(self, page_url: str):
        super().__init__()
        self.page_url = page_url
        self.forms: list[Form] = []
        self.loose = Form("get", page_url)  # fields outside any form (filters driven by scripts)
        self._select: str | None = None

    @property
    def current(self) -> Form:
        return self.forms[-1] if self.forms else self.loose

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                Form((attrs.get("method") or "get").lower(), attrs.get("action") or self.page_url)
            )
        elif tag in ("input", "textarea", "select") and attrs.get("name"):
            name, kind = attrs["name"], attrs.get("type", tag if tag != "input" else "text").lower()
            form = self.current
            if kind in ("submit", "button", "image", "reset"):
                return
            if kind == "file":
                form.files.append(name)
                return
            if kind in ("checkbox", "radio") and name in form.fields and "checked" not in attrs:
                return
            form.kinds[name] = kind
            form.fields[name] = attrs.get("value") or TYPE_DEFAULTS.get(kind, attrs.get("min", ""))
            if tag == "select":
                self._select = name
                form.options[name] = []
        elif tag == "option" and self._select:
            value = attrs.get("value", "")
            self.current.options[self._select].append(value)
            form = self.current
            if "selected" in attrs or (not form.fields.get(self._select) and value):
                form.fields[self._select] = value

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "form" and self.forms and self.forms[-1] is not self.loose:
            pass


def forms_of(html: str, page_url: str) -> list[Form]:
    parser = FormParser(page_url)
    try:
        parser.feed(html)
    except Exception:  # a page that is not HTML
        return []
    return [*parser.forms, parser.loose]


# --- Values for a field ----------------------------------------------------------------------------

# A plausible value for an empty field, so a form gets past its other fields to the one spoiled
# (23:59 with a date of 9999-12-31 is where a time zone overflows).
TYPE_DEFAULTS = {
    "checkbox": "on",
    "date": "2030-05-13",
    "time": "23:59",
    "number": "45",
    "email": "crawl@example.test",
    "tel": "+12015550126",
    "datetime-local": "2030-05-13T10:00",
}
DATE_VALUES = ["9999-12-31", "0001-01-01", "2026-02-30", "2026-03-08T02:30", "²"]
DATETIME_VALUES = ["9999-12-31 23:59", "2026-02-30 10:00", "0001-01-01 00:00", "2026-03-08 02:30", "²"]
TIME_VALUES = ["23:59", "25:61", "²"]
NUMBER_VALUES = [str(10**30), "-1", "²", "١٢", "1e309"]
ID_VALUES = ["9" * 20, "-1", "²", "١٢"]
TEXT_VALUES = ["\x00", "a\x00b", "x" * 10_000, "\u202egnp.exe", "😀"]


def values_for(name: str, kind: str, key: str) -> list[str]:
    lowered = name.lower()
    if kind == "datetime-local" or lowered.endswith("_at"):
        first = DATETIME_VALUES
    elif kind == "date" or any(word in lowered for word in ("date", "day", "start", "end", "_at", "from")):
        first = DATE_VALUES
    elif kind == "time" or "time" in lowered:
        first = TIME_VALUES + DATE_VALUES[:1]
    elif kind == "select":
        first = ID_VALUES
    elif kind == "number" or any(
        word in lowered for word in ("minutes", "occurrences", "fee", "page", "bytes", "percent", "rate")
    ):
        first = NUMBER_VALUES
    elif "phone" in lowered or kind == "tel":
        first = ["+1 212 555 0199 ²", "+99999999999999", "\x00", "١٢١٢٥٥٥٠١٩٩"]
    else:
        first = TEXT_VALUES
    rest = first[3:] + [value for value in corpus.TEXT if value not in first]
    return first[:3] + corpus.sample(rest, key, SAMPLE)


# --- The crawler -----------------------------------------------------------------------------------


class Crawler:
    def __init__(self, world: World):
        self.world = world
        self.requests = 0
        self.failures: list[str] = []
        self.seen_forms: dict[tuple[str, str, str], Form] = {}
        self.model_ids: dict[str, tuple[list[int], list[int]]] = {}
        self.phases: list[str] = []
        self.marks = high_water()
        self.statuses: collections.Counter = collections.Counter()
        self.modules: dict[str, str] = {}
        self.module_keys: dict[str, set[str]] = {}
        self._phase_start = (time.monotonic(), 0)

    def phase(self, name: str):
        """Close a phase of the crawl: its request count and time go into the summary."""
        began, count = self._phase_start
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items(), key=str))
        self.phases.append(
            f"{name}: {self.requests - count} requests, {time.monotonic() - began:.1f} s ({statuses})"
        )
        self.statuses = collections.Counter()
        self._phase_start = (time.monotonic(), self.requests)

    # -- sending --

    def send(self, persona: str, method: str, url: str, data=None, *, content_type=None, **headers):
        http = self.world.sessions[persona]
        self.requests += 1
        where = f"{method} {url} as {persona} with {_short(data)}"
        try:
            with transaction.atomic():
                if method == "GET":
                    response = http.get(url, data or {}, headers=headers)
                elif content_type:
                    response = http.generic(
                        method, url, data or b"", content_type=content_type, headers=headers
                    )
                else:
                    response = http.post(url, data or {}, headers=headers)
                # 503 is a deliberate answer ("not ready yet, retry": a meeting still being
                # created, web push not configured); an exception or any other 5xx is a failure.
                if response.status_code >= 500 and response.status_code != 503:
                    raise AssertionError(f"answered {response.status_code}")
                code = response.status_code
                self.statuses[code if code >= 500 else f"{code // 100}xx"] += 1
                if getattr(response, "streaming", False):
                    response.close()
        except Exception as error:
            self.failures.append(f"{where}: {type(error).__name__}: {str(error)[:200]}")
            return None
        return response

    # -- path parameters --

    def _ids(self, label: str) -> tuple[list[int], list[int]]:
        if label not in self.model_ids:
            model = apps.get_model(label)
            names = {f.name for f in model._meta.get_fields()}
            rows = model._base_manager.order_by("pk")
            if "practice" in names:
                mine = list(rows.filter(practice=self.world.practice).values_list("pk", flat=True)[:1])
                theirs = list(rows.filter(practice=self.world.other).values_list("pk", flat=True)[:1])
            elif "appointment" in names:
                mine = list(
                    rows.filter(appointment__practice=self.world.practice).values_list("pk", flat=True)[:1]
                )
                theirs = list(
                    rows.filter(appointment__practice=self.world.other).values_list("pk", flat=True)[:1]
                )
            else:
                mine, theirs = list(rows.values_list("pk", flat=True)[:1]), []
            self.model_ids[label] = (mine, theirs)
        return self.model_ids[label]

    def _model_for(self, route: Route, param: str) -> str | None:
        if route.is_admin:
            from django.contrib import admin

            for model in admin.site._registry:
                meta = model._meta
                if re.fullmatch(
                    rf"admin:{meta.app_label}_{meta.model_name}_(change|delete|history|\w+)", route.name
                ):
                    return meta.label
            return None
        if param in SEGMENT_MODELS:
            return SEGMENT_MODELS[param]
        before = route.pattern.split(f"<int:{param}>")[0].rstrip("/").split("/")[-1]
        if before in SEGMENT_MODELS:
            return SEGMENT_MODELS[before]
        for model in apps.get_models():
            if before in {
                model._meta.model_name + "s",
                str(model._meta.verbose_name_plural).replace(" ", "-"),
            }:
                return model._meta.label
        return None

    def param_values(self, route: Route, param: str, converter: str, *, hostile: bool) -> list[str]:
        first_segment = route.pattern.strip("/").split("/")[0]
        if converter == "int" or (converter == "path" and route.is_admin):
            label = self._model_for(route, param)
            mine, theirs = self._ids(label) if label else ([1], [2])
            values = [str(v) for v in (mine or [1])]
            if hostile:
                values += [str(v) for v in theirs]
                # The console's <path:object_id> takes any text; the int converter digits only.
                values += ["9" * 20] if converter == "path" else [str(v) for v in corpus.HUGE_IDS]
            return values
        if converter == "slug":
            values = [self.world.practice.slug if "practice" in param else "acme"]
            return values + (corpus.SLUG_SEGMENTS if hostile else [])
        if first_segment in LINK_SEGMENTS and param == "token":
            values = [self.world.link_tokens[first_segment]]
        elif param == "source":
            values = ["acme"]
        else:
            values = ["x"]
        hostile_segments = corpus.sample(corpus.STR_SEGMENTS, route.name + param, 3)
        return values + ([quote(s, safe="") for s in hostile_segments] if hostile else [])

    def urls(self, route: Route, *, hostile: bool) -> list[str]:
        """The route's URL with valid parameters, then with each parameter made hostile in turn."""
        params = route.params
        valid = {name: self.param_values(route, name, conv, hostile=False)[0] for name, conv in params}
        urls = [_fill(route.pattern, valid)]
        if hostile:
            for name, converter in params:
                for value in self.param_values(route, name, converter, hostile=True)[1:]:
                    urls.append(_fill(route.pattern, {**valid, name: value}))
        return urls

    # -- query keys a view reads --

    def source_keys(self, route: Route) -> list[str]:
        """Query keys the view's module reads (``request.GET.get("bytes")``, ``"start" in
        request.GET``) and the fields of the GET forms its pages show: a JSON endpoint or a CSV
        export has no form of its own to read them from."""
        module = self.modules.get(route.name)
        return sorted(self.module_keys.get(module, set())) if module else []

    def learn_keys(self, routes: list[Route]):
        resolver = get_resolver()
        for route in routes:
            if route.is_admin:
                continue
            try:
                match = resolver.resolve(self.urls(route, hostile=False)[0])
            except Exception:
                continue
            view = inspect.unwrap(getattr(match.func, "view_class", match.func))
            module = inspect.getmodule(view)
            if module is None:
                continue
            self.modules[route.name] = module.__name__
            if module.__name__ not in self.module_keys:
                try:
                    source = inspect.getsource(module)
                except (OSError, TypeError):
                    source = ""
                found = set(QUERY_READ.findall(source)) | set(QUERY_TEST.findall(source))
                self.module_keys[module.__name__] = found

    def add_form_keys(self, route: Route, forms: list[Form]):
        module = self.modules.get(route.name)
        if module:
            for form in forms:
                if form.method == "get":
                    self.module_keys.setdefault(module, set()).update(form.fields)

    # -- crawling one route --

    def crawl_page(self, route: Route, persona: str, *, hostile: bool):
        urls = self.urls(route, hostile=hostile)
        first = self.send(persona, "GET", urls[0])
        for url in urls[1:]:
            self.send(persona, "GET", url)
        forms = []
        if first is not None and "html" in first.get("Content-Type", ""):
            forms = forms_of(first.content.decode("utf-8", "replace"), urls[0])
        self.add_form_keys(route, forms)
        query_keys = {
            name: form.kinds[name] for form in forms if form.method == "get" for name in form.fields
        }
        for name in self.source_keys(route):
            query_keys.setdefault(name, "text")
        common = ADMIN_QUERY if route.name.endswith("_changelist") else [] if route.is_admin else COMMON_QUERY
        common = [name for name in common if name not in query_keys]
        if not hostile:
            return
        # The page's own query fields get the values meant for their kind; the parameters
        # every page might read (date, page; the console's q, o, p) two values each.
        asked = [(name, values_for(name, kind, f"{route.name}?{name}")) for name, kind in query_keys.items()]
        per_key = 1 if route.is_admin else 2
        asked += [
            (name, corpus.sample(values_for(name, "", name), route.name + name, per_key)) for name in common
        ]
        for name, values in asked:
            for value in values:
                self.send(persona, "GET", urls[0], {name: value})
        if query_keys and not route.is_admin:  # a range whose both ends are at the calendar's edge
            for value in ("9999-12-31", "0001-01-01"):
                self.send(persona, "GET", urls[0], dict.fromkeys(query_keys, value))
        for form in forms:
            if form.method == "post":
                action = urlsplit(form.action).path or urls[0]
                self.seen_forms.setdefault((persona, action, ",".join(sorted(form.fields))), form)
        # A POST to the page itself, whether or not it shows a form (buttons elsewhere post here).
        self.send(persona, "POST", urls[0], dict.fromkeys([*query_keys, *common], "\x00"))

    def crawl_form(self, persona: str, action: str, form: Form):
        defaults = {name: value for name, value in form.fields.items()}
        files = {name: _upload("external_id,first_name\nx,y\n") for name in form.files}
        self.send(persona, "POST", action, {**defaults, **files})
        for name, kind in form.kinds.items():
            if kind == "hidden" and name == "csrfmiddlewaretoken":
                continue
            for value in values_for(name, kind, f"{action}#{name}"):
                files = {n: _upload("external_id,first_name\nx,y\n") for n in form.files}
                self.send(persona, "POST", action, {**defaults, **files, name: value})

    # -- the API --

    def crawl_api(self, schema: dict):
        auth = {"Authorization": f"Token {self.world.api_token}"}
        for path, item in schema["paths"].items():
            for method, operation in item.items():
                url = path
                for name in re.findall(r"\{(\w+)\}", path):
                    url = url.replace("{" + name + "}", self._api_param(path, name))
                hostile_urls = [url] + [
                    re.sub(r"\{\w+\}", str(value), path) for value in corpus.HUGE_IDS if "{id}" in path
                ]
                for query in operation.get("parameters", []):
                    if query["in"] != "query":
                        continue
                    for value in values_for(query["name"], "text", f"{path}?{query['name']}")[:4]:
                        self.send("anonymous", method.upper(), url, {query["name"]: value}, **auth)
                if method == "get":
                    for hostile in hostile_urls:
                        self.send("anonymous", "GET", hostile, **auth)
                    continue
                body_schema = _body_schema(schema, operation)
                base = _example(schema, body_schema, self)
                self._post_json(hostile_urls[0], base, auth)
                for extra in hostile_urls[1:]:
                    self._post_json(extra, base, auth)
                for prop in (body_schema or {}).get("properties", {}):
                    for value in [
                        "\ud800",
                        *corpus.sample(corpus.JSON_ONLY[1:], f"{path}{prop}", 1 + SAMPLE),
                        "\x00",
                        "9999-12-31T23:59:00Z",
                    ]:
                        self._post_json(hostile_urls[0], {**base, prop: value}, auth)
                self._post_json(hostile_urls[0], corpus.sample(corpus.JSON_VALUES, path, 1)[0], auth)
                cache.clear()  # the API's per-token throttle

    def _api_param(self, path: str, name: str) -> str:
        if name == "source":
            return "acme"
        segment = path.split("{")[0].rstrip("/").split("/")[-1]
        label = SEGMENT_MODELS.get(segment)
        mine, _ = self._ids(label) if label else ([1], [])
        return str(mine[0] if mine else 1)

    def _post_json(self, url: str, body, auth: dict):
        payload = json.dumps(body)  # ASCII: a lone surrogate travels as its escape, as from a client
        self.send("anonymous", "POST", url, payload, content_type="application/json", **auth)

    # -- webhooks, with valid signatures --

    def crawl_twilio(self):
        validator = RequestValidator(TWILIO_TOKEN)
        inbound = {
            "MessageSid": "SM" + "d" * 32,
            "From": self.world.client_phone,
            "To": PRACTICE_NUMBER,
            "Body": "C",
        }
        status = {
            "MessageSid": self.world.provider_message_id,
            "MessageStatus": "delivered",
            "ErrorCode": "",
            "To": self.world.client_phone,
        }
        for path, base in (("/hooks/twilio/inbound/", inbound), ("/hooks/twilio/status/", status)):
            for name in base:
                for index, value in enumerate(values_for(name, "text", f"{path}{name}")):
                    params = {**base, name: value}
                    if name != "MessageSid" and path.endswith("inbound/"):
                        # A new text each time (the hook ignores a MessageSid it has seen).
                        params["MessageSid"] = (
                            "SM" + hashlib.sha256(f"{name}{index}".encode()).hexdigest()[:32]
                        )
                    signature = validator.compute_signature(SITE_URL + path, params)
                    self.send(
                        "anonymous",
                        "POST",
                        path,
                        urlencode(params),
                        content_type="application/x-www-form-urlencoded",
                        **{"X-Twilio-Signature": signature},
                    )

    def crawl_zoom(self):
        base = {
            "event": "meeting.participant_joined",
            "event_ts": 1_800_000_000_000,
            "payload": {
                "account_id": "acct",
                "object": {
                    "id": self.world.meeting_id,
                    "uuid": "uuid==",
                    "host_id": "host",
                    "participant": {"user_id": "1", "user_name": "Ann", "join_time": "2026-05-12T10:00:00Z"},
                },
            },
        }
        variants = [base, {"event": "endpoint.url_validation", "payload": {"plainToken": "x"}}]
        for key in ("event", "event_ts"):
            for value in corpus.sample(corpus.JSON_VALUES, f"zoom{key}", 3 + SAMPLE):
                variants.append({**base, key: value})
        for key in ("id", "uuid", "participant"):
            for value in corpus.sample(corpus.JSON_VALUES, f"zoomobj{key}", 3 + SAMPLE):
                variants.append(
                    {
                        **base,
                        "payload": {**base["payload"], "object": {**base["payload"]["object"], key: value}},
                    }
                )
        for key in ("user_id", "user_name", "join_time", "email"):
            for value in [
                "9999-12-31T23:59:59Z",
                "0001-01-01T00:00:00Z",
                *corpus.sample(corpus.JSON_VALUES, key, 3),
            ]:
                participant = {**base["payload"]["object"]["participant"], key: value}
                obj = {**base["payload"]["object"], "participant": participant}
                variants.append({**base, "payload": {**base["payload"], "object": obj}})
        variants.append({"event": "\ud800", "payload": "\x00"})
        variants.append([1, 2])
        for event in variants:
            body = json.dumps(event).encode()
            stamp = str(int(time.time()))
            digest = hmac.new(
                ZOOM_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256
            ).hexdigest()
            headers = {"X-Zm-Request-Timestamp": stamp, "X-Zm-Signature": f"v0={digest}"}
            self.send("anonymous", "POST", "/hooks/zoom/", body, content_type="application/json", **headers)

    def crawl_ehr(self):
        data = {"external_id": "C-9", "first_name": "Erin", "last_name": "Example", "phone": "+12015550124"}
        events = [{"id": "evt_base", "type": "client.upserted", "source": "simplepractice", "data": data}]
        for key in ("id", "type", "source", "data"):
            for value in corpus.sample(corpus.JSON_VALUES, f"ehr{key}", 3 + SAMPLE):
                events.append({**events[0], "id": f"evt_{key}_{len(events)}", key: value})
        for key in ("external_id", "first_name", "phone", "email", "status", "timezone", "sms_consent"):
            for value in corpus.sample(corpus.JSON_VALUES, f"ehrdata{key}", 3 + SAMPLE):
                events.append({**events[0], "id": f"evt_{len(events)}", "data": {**data, key: value}})
        appointment = {"external_id": "A-9", "clients": ["C-9"], "starts_at": "2026-05-12T10:00:00-04:00"}
        for key in ("starts_at", "clinician", "service_type", "clients", "status", "modality", "minutes"):
            for value in [
                "9999-12-31T23:59:00+00:00",
                *corpus.sample(corpus.JSON_VALUES, f"ehrappt{key}", 3 + SAMPLE),
            ]:
                events.append(
                    {
                        "id": f"evt_{len(events)}",
                        "type": "appointment.created",
                        "source": "simplepractice",
                        "data": {**appointment, key: value},
                    }
                )
        path = f"/hooks/ehr/{self.world.practice.slug}/"
        for event in events:
            body = json.dumps(event).encode()
            stamp = str(int(time.time()))
            headers = {
                "Attend-Timestamp": stamp,
                "Attend-Signature": ehr_sign(secret=self.world.ehr_secret, timestamp=stamp, body=body),
            }
            self.send("anonymous", "POST", path, body, content_type="application/json", **headers)

    def crawl_csv_import(self):
        columns = {
            "clients": [
                "external_id",
                "first_name",
                "last_name",
                "phone",
                "email",
                "sms_consent",
                "timezone",
            ],
            "appointments": [
                "external_id",
                "client_external_ids",
                "clinician",
                "service",
                "starts_at",
                "minutes",
                "modality",
                "fee",
                "status",
            ],
        }
        valid = {
            "external_id": "X-1",
            "first_name": "Ann",
            "last_name": "Avery",
            "phone": "+12015550125",
            "email": "a@example.test",
            "sms_consent": "yes",
            "timezone": "America/New_York",
            "client_external_ids": "X-1",
            "clinician": "Dr. riverside",
            "service": "90834",
            "starts_at": "2026-05-12 10:00",
            "minutes": "45",
            "modality": "telehealth",
            "fee": "100",
            "status": "scheduled",
        }
        for kind, names in columns.items():
            for name in names:
                for value in values_for(name, "text", f"csv{kind}{name}"):
                    out = io.StringIO()
                    writer = csv.writer(out)
                    writer.writerow(names)
                    writer.writerow([value if column == name else valid[column] for column in names])
                    for step in ("preview", "confirm"):
                        file = _upload(out.getvalue())
                        data = {"kind": kind, "source": "csv", "file": file, step: "1"}
                        self.send("manager", "POST", "/imports/", data)
        self.send(
            "manager", "POST", "/imports/", {"kind": "clients", "source": "csv", "file": _upload("\x00\xff")}
        )

    def check_storage(self, route: str, baseline: set[str], *, full: bool = False):
        """Rows added since the last check (cheap, and names the route); ``full`` looks at every
        row again, for values a request changed in an existing row."""
        found = set(bad_rows(since=None if full else self.marks)) - baseline
        self.marks = high_water()
        if found:
            self.failures.append(f"after {route}: stored {sorted(found)[:5]}")
            baseline |= found


def _fill(pattern: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values[m["name"]], pattern)


def _short(data) -> str:
    if data is None:
        return "nothing"
    text = repr(data if not isinstance(data, bytes) else data[:200])
    return text if len(text) < 160 else text[:150] + "…"


def _upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("crawl.csv", text.encode("utf-8", "surrogatepass"), content_type="text/csv")


def _body_schema(schema: dict, operation: dict) -> dict | None:
    content = operation.get("requestBody", {}).get("content", {})
    body = content.get("application/json", {}).get("schema")
    return _deref(schema, body) if body else None


def _example(schema: dict, body: dict | None, crawler: Crawler):
    """A plausible body for the operation: the crawl then spoils one field at a time."""
    if not body:
        return {}
    example = {}
    for name, prop in body.get("properties", {}).items():
        prop = _deref(schema, prop)
        kind, fmt = prop.get("type"), prop.get("format")
        if prop.get("readOnly"):
            continue
        if "enum" in prop:
            example[name] = prop["enum"][0]
        elif fmt == "date-time":
            example[name] = "2030-05-13T10:00:00-04:00"
        elif fmt == "date":
            example[name] = "2030-05-13"
        elif fmt == "email":
            example[name] = "crawl@example.test"
        elif kind == "integer":
            label = SEGMENT_MODELS.get(name + "s") or SEGMENT_MODELS.get(name.replace("_type", "") + "s")
            if name == "service_type":
                label = "scheduling.ServiceType"
            mine, _ = crawler._ids(label) if label else ([1], [])
            example[name] = mine[0] if mine else 1
        elif kind == "boolean":
            example[name] = False
        elif kind == "array":
            example[name] = []
        elif kind == "number":
            example[name] = 1
        else:
            example[name] = "crawl"
    return example


def _deref(schema: dict, node: dict) -> dict:
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 10:
        target = schema
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node, seen = target, seen + 1
    if isinstance(node, dict) and "allOf" in node and len(node["allOf"]) == 1:
        return _deref(schema, node["allOf"][0])
    if isinstance(node, dict) and "oneOf" in node:
        return _deref(schema, node["oneOf"][0])
    return node


# --- The test --------------------------------------------------------------------------------------


@pytest.fixture
def world(settings):
    return build_world(settings)


def test_hostile_input_crawl_finds_no_server_error_and_stores_nothing_unstorable(world, settings):
    started = time.monotonic()
    owner = world.sessions["owner"]
    from practice.models import User

    User.objects.filter(email="owner@riverside.test").update(is_staff=True, is_superuser=True)
    crawler = Crawler(world)
    baseline = set(bad_rows())
    routes, unfilled = discover_routes()
    crawler.learn_keys(routes)
    assert not unfilled, f"routes the crawl cannot fill: {unfilled}"
    quiet = logging.getLogger("django.request"), logging.getLogger("django.security")
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.CRITICAL)
    try:
        crawler.crawl_twilio()
        crawler.check_storage("Twilio webhooks", baseline)
        crawler.crawl_zoom()
        crawler.check_storage("the Zoom webhook", baseline)
        crawler.crawl_ehr()
        crawler.check_storage("the EHR webhook", baseline)
        crawler.crawl_csv_import()
        crawler.check_storage("the CSV import", baseline)
        crawler.phase("webhooks and CSV import")
        schema = json.loads(
            owner.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}).content
        )
        # The pages phase revokes tokens and cancels sessions, so the webhooks and the API go first.
        crawler.crawl_api(schema)
        crawler.check_storage("the API", baseline)
        crawler.phase("API")
        for route in routes:
            if route.name in SKIP or (ONLY and not re.search(ONLY, route.name)):
                continue
            if route.name.startswith("hooks") or route.pattern.startswith("/hooks/"):
                continue  # signed, above
            if route.is_api and route.pattern.startswith("/api/v1/"):
                continue  # from the schema, above
            if route.is_admin:
                # Changelists and change pages with hostile values; the rest of the console plainly.
                hostile = bool(re.search(r"_(changelist|change)$", route.name))
                crawler.crawl_page(route, "owner", hostile=hostile)
                continue
            crawler.crawl_page(route, "manager", hostile=True)
            # Two more staff roles per route (which two turns with the route), anonymous and the
            # other practice's manager: a plain GET each.
            for persona in [*corpus.sample(OTHER_ROLES, route.name, 2), "anonymous", "other_manager"]:
                crawler.crawl_page(route, persona, hostile=False)
            crawler.send("anonymous", "POST", crawler.urls(route, hostile=False)[0], {"date": "9999-12-31"})
            crawler.check_storage(route.name, baseline)
            cache.clear()
        crawler.phase("pages")
        # Last: the forms, which cancel and revoke things the phases above still use.
        for (persona, action, _), form in sorted(crawler.seen_forms.items(), key=_destructive_last):
            if action.startswith("/admin/"):
                continue  # ADMIN_POST_REASON
            crawler.crawl_form(persona, action, form)
            crawler.check_storage(f"POST {action}", baseline)
            cache.clear()
        for persona in ("anonymous", "manager"):  # on fresh sessions: signing out ends them
            world.sessions["signing-out"] = world.sessions[persona].__class__()
            if persona == "manager":
                world.sessions["signing-out"] = verified_session(
                    User.objects.get(email="manager@riverside.test")
                )
            crawler.send("signing-out", "POST", "/accounts/logout/", {"next": "\x00"})
        crawler.phase("forms")
        crawler.check_storage("the whole crawl", baseline, full=True)
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    elapsed = time.monotonic() - started
    print(f"\nhostile-input crawl: {len(routes)} routes, {crawler.requests} requests in {elapsed:.1f} s")
    print("  " + "\n  ".join(crawler.phases))
    assert crawler.failures == [], "\n".join(crawler.failures[:60]) + f"\n({len(crawler.failures)} in all)"


def _destructive_last(item) -> tuple[int, str]:
    (_persona, action, _), _form = item
    destructive = any(word in action for word in ("cancel", "revoke", "delete", "rotate", "logout"))
    return (1 if destructive else 0, action)

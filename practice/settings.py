"""Attend settings, read from the environment (see .env.example for every variable).

Defaults give a working single-machine development setup: SQLite, django-q2 on its ORM
broker, console e-mail and SMS. Production sets DJANGO_DEBUG=false and real values; a bad
value fails loudly at start-up instead of silently falling back.
"""

import sys
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import available_timezones

import environ
import jinja2
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=True)

_DEV_SECRET = "dev-only-insecure-secret-key-change-me-in-production-0123456789"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET if DEBUG else None)
if not DEBUG and (SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set to a random value of 50+ characters.")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Django's own form templates, for the project-wide form renderer below.
    "django.forms",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "auditlog",
    "axes",
    "csp",
    "phonenumber_field",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "practice",
    "scheduling",
    "telehealth",
    "messaging",
    "integrations",
    "waitlist",
    "selfservice",
    "staff",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "practice.client_language.ResetLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "practice.middleware.RefuseNulInQueryMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "practice.middleware.InactivityLogoutMiddleware",
    "practice.middleware.CurrentPracticeMiddleware",
    "practice.middleware.RequireTwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "practice.urls"
WSGI_APPLICATION = "practice.wsgi.application"
ASGI_APPLICATION = "practice.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "practice.context_processors.current_practice",
                "staff.context_processors.needs_attention",
                "messaging.context_processors.dispatcher_status",
                "messaging.context_processors.web_push",
            ],
        },
    },
    # A second engine for the few row fragments that are most of a busy page's rendering (the
    # session cards of the board, My day and My week: staff/jinja2/). Jinja2 compiles a template
    # to Python once; Django's language walks its node tree per row (docs/staff-ui.md, B5).
    # Only staff.cards asks this engine for a template, by name: every page stays a Django template.
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"undefined": jinja2.StrictUndefined, "auto_reload": DEBUG},
    },
]

# --- Database --------------------------------------------------------------------------
# SQLite by default; DATABASE_URL=postgres://… for PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'attend.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # BEGIN IMMEDIATE takes the write lock at the start of every transaction, so a
            # check-then-insert (the double-booking check) cannot interleave with another.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
# A kept connection the server closed meanwhile is replaced, not handed to a request.
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# The worker (manage.py qcluster) keeps its connection between tasks. django-q2 closes "old"
# connections before each task, so with CONN_MAX_AGE 0 every task paid for a new PostgreSQL
# backend: the connect and, above all, the backend's cold catalog caches (B6: the waitlist's
# offer task 82 ms on a kept connection, 243 ms on a new one; docs/benchmarks.md "B6").
# DATABASE_CONN_MAX_AGE is the web's; QCLUSTER_CONN_MAX_AGE=0 makes the worker reconnect again.
if sys.argv[1:2] == ["qcluster"]:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("QCLUSTER_CONN_MAX_AGE", default=600)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Task queue (django-q2) ------------------------------------------------------------
# Set, django-q2 queues tasks in Redis (redis-py, given the URL as is: redis://, rediss:// for
# TLS, unix://); schedules, results and all of Attend's state stay in the database either way.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL and urlsplit(REDIS_URL).scheme not in ("redis", "rediss", "unix"):
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix:// (or be empty).")
Q_CLUSTER = {
    "name": "attend",
    "workers": env.int("Q_WORKERS", default=2),
    # A task may run for `timeout` seconds; it is retried only after `retry` seconds, which
    # must be longer, or a slow task would run twice at once.
    "timeout": 60,
    "retry": 90,
    "max_attempts": 1,
    "catch_up": False,
    "save_limit": 100,
    "ack_failures": True,
    "time_zone": "UTC",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Run background tasks inline instead of through the worker (tests; never in production).
TASKS_EAGER = env.bool("TASKS_EAGER", default=False)

# --- Auth, 2FA and sessions ------------------------------------------------------------
AUTH_USER_MODEL = "practice.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Database sessions with the signed-in user in a column of its own (practice/sessions.py).
SESSION_ENGINE = "practice.sessions"
# Staff are signed out after this many minutes without a request they made themselves.
SESSION_IDLE_TIMEOUT_MINUTES = env.int("SESSION_IDLE_TIMEOUT_MINUTES", default=15)
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- Staff pages (docs/staff-ui.md) ---
# The navigation's open-item count and dispatcher heartbeat are kept this many seconds per web
# process (0: read on every page); the queue page always shows its own count.
NAV_CACHE_SECONDS = env.int("NAV_CACHE_SECONDS", default=5)
# Rendered session cards and queue items kept per web process, by version (0: none). Never a
# shared cache: the HTML holds client names.
FRAGMENT_CACHE_ENTRIES = env.int("FRAGMENT_CACHE_ENTRIES", default=4000)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Attend")
OTP_TOTP_THROTTLE_FACTOR = 1

# Login throttling: lock a username+IP pair out after repeated failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The sign-in form posts the e-mail as "username" (Django's AuthenticationForm); axes would
# otherwise look for the user model's USERNAME_FIELD ("email") and see no username at all.
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# --- Internationalisation and time -----------------------------------------------------
LANGUAGE_CODE = "en-us"
# Client pages come in these languages (practice.client_language); staff pages are English.
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
PHONENUMBER_DEFAULT_REGION = env.str("PHONENUMBER_DEFAULT_REGION", default="US")
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_FORMAT = "NATIONAL"
DEFAULT_PRACTICE_TIMEZONE = env.str("DEFAULT_PRACTICE_TIMEZONE", default="America/New_York")
if DEFAULT_PRACTICE_TIMEZONE not in available_timezones():
    raise ImproperlyConfigured(f"DEFAULT_PRACTICE_TIMEZONE {DEFAULT_PRACTICE_TIMEZONE!r} is unknown.")

# Forms render with the project's templates: each field as one block (practice.forms.FormRenderer).
FORM_RENDERER = "practice.forms.FormRenderer"

# --- Static files ----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- E-mail and SMS --------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Attend <no-reply@attend.localhost>")
SMS_BACKEND = env.str("SMS_BACKEND", default="messaging.backends.console.ConsoleSMSBackend")
EMAIL_CHANNEL_BACKEND = "messaging.backends.email.DjangoEmailBackend"
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="https://api.twilio.com")
TWILIO_TIMEOUT_SECONDS = env.float("TWILIO_TIMEOUT_SECONDS", default=10.0)
if SMS_BACKEND.endswith("TwilioSMSBackend") and not (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN):
    raise ImproperlyConfigured("The Twilio SMS backend needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.")

# Web push (T-0 "time to join" notification). Generate a key pair with `vapid --gen` (py-vapid);
# the private key may be PEM (newlines as \\n in .env), base64url DER or base64url raw.
WEBPUSH_VAPID_PRIVATE_KEY = env.str("WEBPUSH_VAPID_PRIVATE_KEY", default="")
WEBPUSH_VAPID_SUBJECT = env.str("WEBPUSH_VAPID_SUBJECT", default="mailto:ops@attend.localhost")
WEBPUSH_TIMEOUT_SECONDS = env.float("WEBPUSH_TIMEOUT_SECONDS", default=10.0)
# http:// push endpoints on 127.0.0.1/localhost (a local push service); always on with DEBUG.
WEBPUSH_ALLOW_INSECURE_ENDPOINTS = env.bool("WEBPUSH_ALLOW_INSECURE_ENDPOINTS", default=False)
# Push services a subscription may point at (messaging.push.DEFAULT_ENDPOINT_HOSTS when unset).
if env.str("WEBPUSH_ENDPOINT_HOSTS", default=""):
    WEBPUSH_ENDPOINT_HOSTS = env.list("WEBPUSH_ENDPOINT_HOSTS")

# Public address of this deployment, used in links inside messages and to verify webhook
# signatures (Twilio signs the exact URL it called). No trailing slash.
# Without SITE_URL: this machine on $PORT (`make demo PORT=9000`; rundemo also sets it).
SITE_URL = env.str("SITE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}").rstrip("/")
CALENDAR_UID_DOMAIN = env.str("CALENDAR_UID_DOMAIN", default="attend.invalid")

# --- Reminder dispatch -----------------------------------------------------------------
# Rows claimed per batch, provider calls in flight at once, and how long a row may stay
# "sending" before a dead dispatcher is assumed (must exceed the slowest batch).
DISPATCH_BATCH_SIZE = env.int("DISPATCH_BATCH_SIZE", default=500)
DISPATCH_CONCURRENCY = env.int("DISPATCH_CONCURRENCY", default=16)
DISPATCH_SENDING_LEASE_SECONDS = env.int("DISPATCH_SENDING_LEASE_SECONDS", default=600)
# A claimed row is only being prepared (no network yet): a dead dispatcher's claim is planned
# again after this long. It must exceed the time to prepare one batch.
DISPATCH_CLAIM_LEASE_SECONDS = env.int("DISPATCH_CLAIM_LEASE_SECONDS", default=60)
# Rows marked "sending" by one durable commit before their provider calls (DISPATCH_CONCURRENCY at
# a time; a chunk is handed over when the previous one's calls have answered): a dispatcher killed
# mid-burst leaves at most this many "unknown"; fewer means more commits (each waits for the WAL
# flush), which bounds a top-of-the-hour burst (docs/benchmarks.md). 128: as many as the two chunks
# of 64 that could be left before issue #19.
DISPATCH_HANDOVER_CHUNK = env.int("DISPATCH_HANDOVER_CHUNK", default=128)
# The scheduled dispatcher task sweeps every DISPATCH_INTERVAL_SECONDS for just under a minute,
# because django-q2 schedules run at most once a minute.
DISPATCH_INTERVAL_SECONDS = env.int("DISPATCH_INTERVAL_SECONDS", default=5)
# The long-running dispatcher (manage.py run_dispatcher, the worker's loop) claims rows this long
# before they fall due and decides and renders them ahead, so a top-of-the-hour burst is only
# handed over at its second (docs/benchmarks.md, B1). 0: nothing is prepared ahead.
DISPATCH_LOOKAHEAD_SECONDS = env.int("DISPATCH_LOOKAHEAD_SECONDS", default=60)
for _name in (
    "DISPATCH_BATCH_SIZE",
    "DISPATCH_CONCURRENCY",
    "DISPATCH_INTERVAL_SECONDS",
    "DISPATCH_HANDOVER_CHUNK",
    "DISPATCH_CLAIM_LEASE_SECONDS",
    "DISPATCH_SENDING_LEASE_SECONDS",
):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1.")

# --- Outbound webhooks (integrations) -------------------------------------------------
# Seconds to wait for an endpoint's answer, requests in flight at once, and the sweep interval.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_CONCURRENCY = env.int("WEBHOOK_CONCURRENCY", default=8)
WEBHOOK_INTERVAL_SECONDS = env.int("WEBHOOK_INTERVAL_SECONDS", default=5)
# http:// endpoints on 127.0.0.1/localhost (a receiver on this machine); on with DEBUG.
WEBHOOK_ALLOW_LOCAL_HTTP = env.bool("WEBHOOK_ALLOW_LOCAL_HTTP", default=DEBUG)
for _name in ("WEBHOOK_CONCURRENCY", "WEBHOOK_INTERVAL_SECONDS"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1.")

# --- Telehealth providers ----------------------------------------------------------------
# Deployment-wide provider settings; each practice chooses its provider, and clinicians
# carry their own Zoom user / Doxy.me room. See docs/telehealth.md for Jitsi JWT.
TELEHEALTH_PROVIDERS = {
    "fake": {},
    "manual": {},
    "doxy": {},
    "jitsi": {
        "base_url": env.str("JITSI_BASE_URL", default="https://meet.jit.si"),
        "app_id": env.str("JITSI_APP_ID", default=""),
        "app_secret": env.str("JITSI_APP_SECRET", default=""),
    },
    "zoom": {
        "account_id": env.str("ZOOM_ACCOUNT_ID", default=""),
        "client_id": env.str("ZOOM_CLIENT_ID", default=""),
        "client_secret": env.str("ZOOM_CLIENT_SECRET", default=""),
        "api_base": env.str("ZOOM_API_BASE", default="https://api.zoom.us/v2"),
        "oauth_url": env.str("ZOOM_OAUTH_URL", default="https://zoom.us/oauth/token"),
    },
}
# Secret token of the Zoom app's event subscription (verifies x-zm-signature).
ZOOM_WEBHOOK_SECRET_TOKEN = env.str("ZOOM_WEBHOOK_SECRET_TOKEN", default="")

# --- Security headers ------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # QR codes for 2FA enrolment are inline SVG data URIs.
        "img-src": ["'self'", "data:"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# --- Audit -----------------------------------------------------------------------------
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False

# --- REST framework --------------------------------------------------------------------
# Requests per API token ("<number>/<second|minute|hour|day>"); over it: 429 with Retry-After.
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="600/minute")
# Idempotency-Key records older than this are purged (scheduling.tasks.purge_idempotency_records).
IDEMPOTENCY_KEY_HOURS = env.int("IDEMPOTENCY_KEY_HOURS", default=24)
# Inbound EHR webhooks: how far the signed timestamp may be from our clock, in seconds.
EHR_WEBHOOK_TOLERANCE_SECONDS = env.int("EHR_WEBHOOK_TOLERANCE_SECONDS", default=300)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# OpenAPI schema of the REST API (drf-spectacular). Read by /api/schema/ and by drf-spectacular's
# system check, which runs with `check --deploy`.
SPECTACULAR_SETTINGS = {
    "TITLE": "Attend API",
    "DESCRIPTION": "Clients, clinicians and appointments of one practice, for EHRs and integrations. "
    "Authenticate with `Authorization: Token att_…`. Errors, pagination and Idempotency-Key: "
    "see docs/api.md.",
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Only the operations of scheduling.api.views (not other DRF views the project may add).
    "PREPROCESSING_HOOKS": ["scheduling.api.urls.only_this_api"],
    "ENUM_NAME_OVERRIDES": {
        "AppointmentStatusEnum": "scheduling.models.AppointmentStatus",
        "ClientStatusEnum": "practice.models.ClientStatus",
        "AppointmentSourceEnum": "scheduling.models.AppointmentSource",
    },
}

# --- Logging ---------------------------------------------------------------------------
# Logs carry ids, never client names, phone numbers or e-mail addresses.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Client link tokens are credentials: masked in every log line (practice/log_filters.py).
    "filters": {
        "client_tokens": {"()": "practice.log_filters.MaskClientTokens"},
        "no_client_error_tracebacks": {"()": "practice.log_filters.NoTracebackForClientErrors"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_tokens", "no_client_error_tracebacks"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's default configuration gives the "django" logger a console handler of its own
        # (when DEBUG); its records also reach the root handler, so every warning printed twice.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # The development server's request lines, through the masking console handler (its
        # default handler would print search terms and link tokens as they are).
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # twilio logs every request's URL and headers at INFO.
        "twilio.http_client": {"level": "WARNING"},
    },
}

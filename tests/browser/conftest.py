"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live_server.

Without Playwright or /usr/bin/chromium the tests are skipped with the reason, unless
ATTEND_REQUIRE_BROWSER=1 (CI sets it): then a missing browser fails the run instead of
quietly testing nothing. Each test saves screenshots under test-artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BASE_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A generated camera picture and microphone tone instead of real devices.
    "--use-fake-device-for-media-stream",
]
# Accept every camera/microphone prompt. Without it, headless Chromium denies a prompt at
# once (NotAllowedError, "Permission denied") unless the context was granted the
# permission: that is how the "permission blocked" test gets a deterministic denial.
FAKE_UI = "--use-fake-ui-for-media-stream"
MEDIA_PERMISSIONS = ["camera", "microphone"]


def _unavailable(reason: str):
    if os.environ.get("ATTEND_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (ATTEND_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright_entry():
    """Playwright's entry point, or a skip (a failure in CI) saying what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: pip install playwright")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    return sync_playwright


@pytest.fixture(scope="session")
def playwright_driver(playwright_entry, django_db_setup, django_db_blocker):
    # Availability is checked before the test database is set up, so a skip is quick.
    # Playwright starts after the database exists and stops before it is dropped.
    #
    # Playwright's sync API keeps an asyncio event loop running in the main thread from
    # here until it stops, so Django takes every ORM call in that thread (the tests' own
    # setup and asserts, pytest-django's flush, and any test collected after these) for a
    # call from async code and raises SynchronousOnlyOperation. They are plain synchronous
    # calls, never made inside a coroutine, so allow them exactly while Playwright runs.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with playwright_entry() as driver:
            yield driver
    finally:
        # Runs as part of the last test's teardown, where pytest-django blocks the database.
        with django_db_blocker.unblock():
            _close_leftover_connections()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _close_leftover_connections() -> None:
    """Close every connection to the test database before pytest-django drops it.

    Django keeps connections in context-local storage (asgiref), and Playwright's greenlets
    switch contexts: after a browser test the main thread can hold a connection made in a
    context that is no longer current, which ``close_all()`` from here cannot reach. Left open,
    it makes dropping the PostgreSQL test database fail at the end of the run ("database … is
    being accessed by other users"). So close ours, then end any session still attached to the
    test database (its owner is this test process; nothing uses it after the last test).
    """
    connections.close_all()
    connection = connections["default"]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.close()


def _launch(driver, extra_args: list[str]):
    return driver.chromium.launch(executable_path=str(CHROMIUM), args=BASE_ARGS + extra_args)


@pytest.fixture(scope="session")
def browser(playwright_driver):
    """Chromium with fake camera and microphone that says yes to every media prompt."""
    launched = _launch(playwright_driver, [FAKE_UI])
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def browser_asking_for_media(playwright_driver):
    """Chromium that asks before sharing camera/microphone, as a real one does; headless,
    nobody answers, so only a context granted the permissions gets the devices."""
    launched = _launch(playwright_driver, [])
    yield launched
    launched.close()


def _counts(message) -> bool:
    # Browsers ask for /favicon.ico by themselves; the app has none and that is fine.
    return message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico")


def _open_page(context):
    page = context.new_page()
    page.set_default_timeout(20_000)
    # Console errors and uncaught exceptions; CSP violations show up here too.
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if _counts(msg) else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    return page


@pytest.fixture
def page(browser):
    context = browser.new_context(permissions=MEDIA_PERMISSIONS)
    yield _open_page(context)
    context.close()
    connections.close_all()  # see playwright_driver


@pytest.fixture
def page_without_media_permission(browser_asking_for_media):
    context = browser_asking_for_media.new_context()
    context.clear_permissions()
    yield _open_page(context)
    context.close()


@pytest.fixture
def screenshot(request):
    """screenshot(page, "label") saves test-artifacts/<test name>-<label>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    test_name = re.sub(r"[^\w-]+", "_", request.node.name)

    def save(page, label: str) -> Path:
        path = ARTIFACTS / f"{test_name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save

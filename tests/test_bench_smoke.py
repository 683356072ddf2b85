"""Each benchmark of ``make bench`` (tests/bench, issue #8) runs end to end at a tiny size.

Figures are not checked here (speed is measured only by tests/bench); what is checked is that
every benchmark runs, and the correctness counts it reports: nothing sent twice, nothing lost,
nothing stale. PostgreSQL only: the benchmarks need it, and their dispatcher runs in other
processes, which must see the test database.
"""

import os
from argparse import Namespace

import pytest
from django.db import connection

from tests.bench import b1, b2, b3, b4, data

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmarks need PostgreSQL"),
]


@pytest.fixture(autouse=True)
def bench_environment(monkeypatch, settings):
    """What ``python -m tests.bench`` sets up, pointed at the test database."""
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    monkeypatch.setenv("DATABASE_URL", f"postgres://{db['USER']}@{host}/{db['NAME']}")
    monkeypatch.setenv("SMS_BACKEND", "tests.bench.backends.TimestampingSMSBackend")
    monkeypatch.setenv("DJANGO_DEBUG", "false")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "bench-smoke-" + "x" * 50)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("EMAIL_URL", "consolemail://")
    monkeypatch.delenv("BENCH_SEND_LOG", raising=False)
    monkeypatch.setattr(b1, "ARM_MARGIN", 4.0)
    settings.SMS_BACKEND = "tests.bench.backends.TimestampingSMSBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    yield
    os.environ.pop("BENCH_SEND_LOG", None)


def test_b1_burst_hands_every_reminder_over_once_and_measures_the_floor():
    burst = data.ensure_burst(30, log=lambda *_: None)
    floor = b1.sql_floor(burst, repeats=1)
    assert floor["rows"] == 30
    # The baseline (no look-ahead, from the due instant) and the production loop started ahead.
    for lead in (None, 2.0):
        result = b1.dispatcher_run(burst, count_queries=True, lead=lead)
        assert result["finished"]
        assert result["handed_over"] == 30
        assert result["duplicates"] == 0
        assert result["cpu_ms_per_row"] > 0


def test_b2_plans_a_tiny_network_four_ways():
    results = b2.run(Namespace(network=400, plan_slice=40, plan_sample=5))
    for path in ("per_booking", "orm", "floor", "bulk"):
        # About six rows a session each way (disjoint slices; in-person sessions plan fewer).
        assert 5 <= results[path]["rows"] / results[path]["sessions"] <= 8


def test_b3_storm_has_no_stale_no_lost_no_duplicate_sends(monkeypatch):
    monkeypatch.setattr(b3, "LEAD", 3.0)
    results = b3.run(Namespace(n=40, storm=10, storm_seconds=60))
    assert results["storm"] == 10
    assert results["stale"] == 0
    assert results["lost"] == 0
    assert results["duplicates"] == 0


def test_b4_hands_texts_to_a_twilio_stand_in_and_mail_to_smtp_once_each():
    results = b4.run(Namespace(n=20, messages=12))
    assert results["sms"]["duplicates"] == 0
    assert results["sms"]["final_states"].get("accepted") == 12
    assert results["email"]["received_by_server"] == 12
    assert results["email"]["duplicates"] == 0


def test_b5_serves_every_staff_page_idle_and_during_a_burst(settings):
    from tests.bench import b5

    # The web server runs with DEBUG off, which refuses the tests' development key; the sessions
    # made here must be signed with the key it uses.
    settings.SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
    results = b5.run(Namespace(network=400, n=30, b5_rounds=1, b5_burst=30))
    for phase in ("idle", "burst"):
        assert results[phase]["all"]["errors"] == 0, results[phase]["all"]["error_detail"]
        for page in b5.PAGES:
            assert results[phase][page]["requests"] >= b5.USERS  # each user asked at least once
    assert results["dispatcher"]["handed_over"] == 30
    assert results["day"]["queue_items"] > 0
    assert all(results["queries"][page] > 0 for page in b5.PAGES)
    assert results["web_peak_rss_mb"] > 0


def test_b6_refills_a_tiny_network_and_its_invariants_hold(settings, monkeypatch):
    from django_q.conf import Conf

    from tests.bench import b6

    # Its qcluster reads the tasks this process signs (django-q2 keeps the key it started with).
    settings.SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
    monkeypatch.setattr(Conf, "SECRET_KEY", settings.SECRET_KEY)

    results = b6.run(
        Namespace(network=400, b6_slots=12, b6_entries=40, b6_rate=20, b6_seed=16, skip=[], b6_profile="")
    )
    latency = results["latency"]
    assert latency["slots_recorded"] == latency["steady_cancellations"] + latency["burst_cancellations"]
    assert latency["steady_offered"] + latency["burst_offered"] > 0
    assert latency["duplicate_texts"] == 0
    assert results["simulation"]["counts"]["cancelled"] == 12
    for table in (results["waves"], results["broadcast"]["by_bucket"]):
        assert sum(row["freed"] for row in table.values()) == 12
    assert set(results["invariants"].values()) == {0}

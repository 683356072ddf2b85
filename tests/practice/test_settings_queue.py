"""How practice/settings.py builds django-q2's Q_CLUSTER from REDIS_URL (read at start-up, so
each case imports the settings in a fresh process)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "import json, django; django.setup(); from django.conf import settings; "
    "from django_q.brokers import get_broker; "
    "print(json.dumps({'q': settings.Q_CLUSTER, 'broker': type(get_broker()).__name__}))"
)


def settings_with(redis_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "practice.settings", "REDIS_URL": redis_url}
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_without_redis_url_the_queue_is_the_database():
    shown = json.loads(settings_with("").stdout)
    assert shown["q"]["orm"] == "default" and "redis" not in shown["q"]
    assert shown["broker"] == "ORM"


def test_redis_url_makes_redis_the_broker():
    # Building the broker only makes a client (no connection), so no Redis server is needed.
    shown = json.loads(settings_with("redis://127.0.0.1:6379/7").stdout)
    assert shown["q"]["redis"] == "redis://127.0.0.1:6379/7" and "orm" not in shown["q"]
    assert shown["broker"] == "Redis"


def test_a_redis_url_without_a_scheme_fails_at_start_up():
    result = settings_with("127.0.0.1:6379")
    assert result.returncode != 0
    assert "REDIS_URL must start with redis://" in result.stderr

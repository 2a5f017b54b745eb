"""Both settings modes, loaded in a fresh interpreter with a controlled environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "debug": settings.DEBUG,
    "db": settings.DATABASES["default"]["ENGINE"],
    "channels": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "broker": settings.CELERY_BROKER_URL,
    "cache": settings.CACHES["default"]["BACKEND"],
    "embedded_worker": settings.CONCERTMASTER_EMBEDDED_WORKER,
    "polling": settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("polling_interval"),
}))
"""
CONFIG_VARS = ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS")


def _load(**overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS and not k.startswith("CONCERTMASTER_")}
    env.update(DJANGO_SETTINGS_MODULE="concertmaster.settings", **overrides)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=BASE_DIR, env=env, capture_output=True, text=True)


def test_embedded_default_needs_nothing():
    """With no environment: SQLite, in-memory layer and broker, embedded worker, fast broker polling."""
    result = _load()
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["debug"] is True
    assert loaded["db"] == "django.db.backends.sqlite3"
    assert loaded["channels"] == "channels.layers.InMemoryChannelLayer"
    assert loaded["broker"] == "memory://"
    assert loaded["embedded_worker"] is True
    assert loaded["polling"] <= 0.05


def test_production_uses_postgres_and_redis():
    """DATABASE_URL and REDIS_URL switch to PostgreSQL, channels-redis, a Redis broker and separate workers."""
    result = _load(
        SECRET_KEY="x" * 60,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["debug"] is False
    assert loaded["db"] == "django.db.backends.postgresql"
    assert loaded["channels"] == "channels_redis.core.RedisChannelLayer"
    assert loaded["broker"] == "redis://127.0.0.1:6379/0"
    assert loaded["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert loaded["embedded_worker"] is False


def test_secret_key_is_required_without_debug():
    """A deployment that forgets SECRET_KEY fails at start with a message naming it."""
    result = _load(DATABASE_URL="postgres://postgres@127.0.0.1:5432/test")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_an_unknown_log_format_fails_at_start_naming_it():
    result = _load(LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be 'json' or 'text', not 'xml'" in result.stderr


@pytest.mark.slow
def test_check_deploy_is_clean_in_production():
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env.update(
        SECRET_KEY="k" * 30 + "Z9!q" * 10,
        ALLOWED_HOSTS="concertmaster.example.com",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
        CONCERTMASTER_CREDENTIAL_KEYS="Y29uY2VydG1hc3Rlci1wcm9kLXRlc3Qta2V5LTAwMDA=",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr

"""Email: EMAIL_URL or the EMAIL_* variables configure Django's mail backend; the embedded default writes each
message as a file under var/mail, so an `email_send` node succeeds after `make run` with nothing configured,
while an SMTP credential on the node still sends through that server."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from apps.core.mail import email_url_settings
from apps.executions.models import NodeExecution
from concertmaster.celery import app
from tests.executions.engine.helpers import chain, make_workflow, start, wait_finished
from tests.nodes.fakeserver import FakeSMTPServer
from tests.workflows.factories import CredentialFactory

BASE_DIR = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
from django.conf import settings
django.setup()
names = ["EMAIL_BACKEND", "EMAIL_FILE_PATH", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD",
         "EMAIL_USE_TLS", "EMAIL_USE_SSL", "EMAIL_TIMEOUT", "DEFAULT_FROM_EMAIL"]
print(json.dumps({name: getattr(settings, name, None) for name in names}))
"""
CONFIG_VARS = ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS")
FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
PRODUCTION = {
    "SECRET_KEY": "x" * 60,
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def load(**overrides: str) -> dict:
    """The email settings a fresh interpreter reads from exactly this environment."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in CONFIG_VARS and not k.startswith(("CONCERTMASTER_", "EMAIL_", "DEFAULT_FROM_EMAIL"))
    }
    env.update(DJANGO_SETTINGS_MODULE="concertmaster.settings", **overrides)
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=BASE_DIR, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- settings -------------------------------------------------------------------------------------


def test_embedded_default_writes_mail_to_files_under_var():
    loaded = load()

    assert loaded["EMAIL_BACKEND"] == FILE_BACKEND
    assert loaded["EMAIL_FILE_PATH"] == str(BASE_DIR / "var" / "mail")
    assert loaded["EMAIL_TIMEOUT"] == 30


def test_email_url_overrides_the_default():
    loaded = load(EMAIL_URL="smtp+tls://mailer:p%40ss@mail.example.com:587")

    assert loaded["EMAIL_BACKEND"] == SMTP_BACKEND
    assert (loaded["EMAIL_HOST"], loaded["EMAIL_PORT"]) == ("mail.example.com", 587)
    assert (loaded["EMAIL_HOST_USER"], loaded["EMAIL_HOST_PASSWORD"]) == ("mailer", "p@ss")
    assert (loaded["EMAIL_USE_TLS"], loaded["EMAIL_USE_SSL"]) == (True, False)


def test_email_variables_without_url():
    loaded = load(
        **PRODUCTION,
        EMAIL_HOST="smtp.example.com",
        EMAIL_PORT="2525",
        EMAIL_HOST_USER="u",
        EMAIL_HOST_PASSWORD="p",
        EMAIL_USE_TLS="true",
        DEFAULT_FROM_EMAIL="robot@example.com",
    )

    assert loaded["EMAIL_BACKEND"] == SMTP_BACKEND
    assert (loaded["EMAIL_HOST"], loaded["EMAIL_PORT"], loaded["EMAIL_USE_TLS"]) == ("smtp.example.com", 2525, True)
    assert (loaded["EMAIL_HOST_USER"], loaded["EMAIL_HOST_PASSWORD"]) == ("u", "p")
    assert loaded["DEFAULT_FROM_EMAIL"] == "robot@example.com"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp+ssl://mailer:pw@mail.example.com", {"EMAIL_PORT": 465, "EMAIL_USE_SSL": True, "EMAIL_USE_TLS": False}),
        ("smtp+tls://mail.example.com", {"EMAIL_PORT": 587, "EMAIL_USE_TLS": True, "EMAIL_HOST": "mail.example.com"}),
        ("smtp://relay", {"EMAIL_PORT": 25, "EMAIL_HOST": "relay", "EMAIL_BACKEND": SMTP_BACKEND}),
        ("consolemail://", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        ("filemail:///tmp/cm-mail", {"EMAIL_BACKEND": FILE_BACKEND, "EMAIL_FILE_PATH": "/tmp/cm-mail"}),
        ("filemail://var/outbox", {"EMAIL_FILE_PATH": str(BASE_DIR / "var" / "outbox")}),
        ("filemail://", {"EMAIL_FILE_PATH": str(BASE_DIR / "var" / "mail")}),
    ],
)
def test_email_url_settings(url, expected):
    config = email_url_settings(url, base_dir=BASE_DIR)

    assert config.items() >= expected.items()
    assert None not in config.values()
    assert "OPTIONS" not in config


def test_a_bad_email_url_is_refused_naming_the_variable():
    with pytest.raises(ImproperlyConfigured) as error:
        email_url_settings("carrier-pigeon://coop", base_dir=BASE_DIR)

    assert str(error.value).startswith("EMAIL_URL 'carrier-pigeon://...' has an unknown scheme")


# --- a real run -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_worker(django_db_setup, django_db_blocker):
    """A real Celery worker in a thread (as tests/executions/engine uses), for this module's runs."""
    database = connections.settings["default"]
    max_age = database.get("CONN_MAX_AGE", 0)
    database["CONN_MAX_AGE"] = 0
    with django_db_blocker.unblock():
        app.control.purge()
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
            yield worker
    database["CONN_MAX_AGE"] = max_age


@pytest.fixture
def worker(module_worker, transactional_db):
    app.control.purge()
    yield module_worker
    app.control.purge()


def email_workflow(**config):
    node = {"id": "mail", "type": "email_send", "config": {"to": "ada@example.com", "subject": "Hi", **config}}
    return make_workflow(*chain({**node, "config": {"body": "Hello {{ trigger.name }}", **node["config"]}}))


def test_email_send_succeeds_with_the_embedded_default_and_no_credential(worker, settings, tmp_path):
    """The embedded default backend (files under var/mail, here a temporary directory) takes the message."""
    settings.EMAIL_BACKEND = FILE_BACKEND
    settings.EMAIL_FILE_PATH = str(tmp_path)

    execution = wait_finished(start(email_workflow(), {"name": "Ada"}))

    assert execution.status == "succeeded", NodeExecution.objects.filter(execution=execution).values("error")
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    written = files[0].read_text()
    assert "Subject: Hi" in written and "Hello Ada" in written and "To: ada@example.com" in written


def test_email_send_through_an_smtp_credential_still_uses_that_server(worker, settings, tmp_path):
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = True  # the test's SMTP server listens on loopback
    settings.EMAIL_BACKEND = FILE_BACKEND
    settings.EMAIL_FILE_PATH = str(tmp_path)
    with FakeSMTPServer(users={"mailer": "pw"}) as smtp:
        workflow = email_workflow(credential="smtp")
        CredentialFactory(
            organization=workflow.organization,
            name="smtp",
            kind="smtp",
            data={"host": "127.0.0.1", "port": smtp.port, "username": "mailer", "password": "pw"},
        )

        execution = wait_finished(start(workflow, {"name": "Bob"}))

    assert execution.status == "succeeded", NodeExecution.objects.filter(execution=execution).values("error")
    assert smtp.messages[0].auth == ("mailer", "pw")
    assert smtp.messages[0].message.get_payload().strip() == "Hello Bob"
    assert list(tmp_path.iterdir()) == [], "the platform's backend was not used"

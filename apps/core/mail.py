"""Email settings from one URL (EMAIL_URL), read by settings.py: django-environ's parser plus what it leaves out."""

from pathlib import Path
from urllib.parse import unquote, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
BAD_EMAIL_URL = "EMAIL_URL {url!r} has an unknown scheme; use one of: {schemes}."


def email_url_settings(url: str, *, base_dir: Path) -> dict:
    """The EMAIL_* settings for `url` (smtp://, smtp+tls://, smtp+ssl://, consolemail://, filemail://path).

    django-environ strips the leading slash of a file path (`filemail:///tmp/mail` gives `tmp/mail`), leaves
    no port for SMTP without one and sets absent values to None: a file path is taken from the URL itself
    (relative paths under the project), SMTP gets its scheme's usual port, and None values are left to Django.
    """
    scheme = urlsplit(url).scheme
    if scheme not in environ.Env.EMAIL_SCHEMES:
        schemes = ", ".join(sorted(environ.Env.EMAIL_SCHEMES))
        raise ImproperlyConfigured(BAD_EMAIL_URL.format(url=scheme + "://...", schemes=schemes))
    config = {key: value for key, value in environ.Env.email_url_config(url).items() if value not in (None, "")}
    config.pop("OPTIONS", None)
    if config["EMAIL_BACKEND"] == FILE_BACKEND:
        parts = urlsplit(url)
        path = Path(unquote(parts.netloc + parts.path) or "var/mail")
        config["EMAIL_FILE_PATH"] = str(path if path.is_absolute() else base_dir / path)
    if config["EMAIL_BACKEND"] == SMTP_BACKEND:
        config.setdefault("EMAIL_USE_TLS", False)
        config.setdefault("EMAIL_USE_SSL", False)
        default_port = 465 if config["EMAIL_USE_SSL"] else 587 if config["EMAIL_USE_TLS"] else 25
        config.setdefault("EMAIL_PORT", default_port)
    return config

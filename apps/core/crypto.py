"""Encryption at rest (credentials, organization secrets): MultiFernet over CONCERTMASTER_CREDENTIAL_KEYS (newest
first)."""

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

NO_KEYS = "CONCERTMASTER_CREDENTIAL_KEYS is empty: set at least one Fernet key to store credentials."
BAD_TOKEN = "A credential could not be decrypted with any configured key."


def _fernet() -> MultiFernet:
    keys = settings.CONCERTMASTER_CREDENTIAL_KEYS
    if not keys:
        raise ImproperlyConfigured(NO_KEYS)
    return MultiFernet([Fernet(key) for key in keys])


def encrypt_json(value: object) -> str:
    return _fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> object:
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as error:
        raise ImproperlyConfigured(BAD_TOKEN) from error


def rotate_token(token: str) -> str:
    """Re-encrypt `token` with the newest key (it may have been written with an older one)."""
    return _fernet().rotate(token.encode()).decode()


class EncryptedJSONField(models.TextField):
    """A JSON value stored as a Fernet token: the database never sees it in clear."""

    # What django-stubs types the model attribute as: the JSON value, not the stored text.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def from_db_value(self, value, expression, connection):
        return None if value is None else decrypt_json(value)

    def get_prep_value(self, value):
        return None if value is None else encrypt_json(value)

    def to_python(self, value):
        return value

"""Encryption at rest for credentials: the field and helpers live in `apps.core.crypto` (organization secrets use
them too); re-exported here so migrations and imports that name this module keep working."""

from apps.core.crypto import BAD_TOKEN, NO_KEYS, EncryptedJSONField, decrypt_json, encrypt_json, rotate_token

__all__ = ["BAD_TOKEN", "NO_KEYS", "EncryptedJSONField", "decrypt_json", "encrypt_json", "rotate_token"]

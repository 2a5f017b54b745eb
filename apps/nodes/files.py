"""Files between nodes: the platform storage and the file references nodes pass to each other.

A file never travels as bytes in the JSON of a run: nodes, triggers and the API pass a reference
`{"type": "file", "id", "name", "content_type", "size", "sha256", "storage_key"}`. The bytes live in the storage
`STORAGES["files"]` (FileSystemStorage under var/files embedded, django-storages' S3Storage in production: see
docs/operations.md). Storage keys start with the organization's id, so a reference forged in a run's data cannot
reach another organization's files.

The rows that list a run's files belong to the executions app (`ExecutionFile`): this module sends
`file_stored` and the executions app records the row (nodes never import the executions ORM).
"""

from __future__ import annotations

import hashlib
import mimetypes
import uuid
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.dispatch import Signal
from django.utils.text import get_valid_filename

from .base import NodeError

FILE_TYPE = "file"
REFERENCE_KEYS = ("type", "id", "name", "content_type", "size", "sha256", "storage_key")

NOT_A_FILE = "{field} is not a file reference (an object with type 'file', as file nodes and uploads output)."
FOREIGN_FILE = "{field} names a file of another organization."
FILE_MISSING = "The file {name!r} is no longer in storage (pruned with its execution?)."
FILE_CHANGED = "The file {name!r} does not match its checksum: it changed in storage."
FILE_TOO_LARGE = "The file {name!r} is {size} bytes; files may not exceed {limit} bytes."
BAD_FILE_NAME = "Invalid file name {name!r}."
NOT_RECORDED = "The file {name!r} could not be listed with the execution: {error}"

#: Sent once a file is in storage: kwargs `reference`, `organization_id`, `execution_id`, `node_id`. The executions
#: app records its ExecutionFile row (in the caller's transaction).
file_stored = Signal()


def file_storage() -> Storage:
    """The platform's file storage (`STORAGES["files"]`)."""
    return storages["files"]


def safe_file_name(name: str) -> str:
    """The last path segment of `name`, cleaned to letters, digits, `-`, `_` and `.` (a NodeError when nothing is
    left)."""
    try:
        cleaned = get_valid_filename(str(name).replace("\\", "/").rsplit("/", 1)[-1])
    except SuspiciousFileOperation as exc:
        raise NodeError(BAD_FILE_NAME.format(name=name), retryable=False) from exc
    return cleaned[:200]


def guess_content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def file_store(
    *,
    organization_id: Any,
    name: str,
    content: bytes,
    content_type: str = "",
    execution_id: Any = None,
    node_id: str = "",
) -> dict:
    """Put `content` in the platform storage and return its reference; `file_stored` records the row when the file
    belongs to an execution (an upload is attached to its execution once the run exists)."""
    limit = settings.CONCERTMASTER_FILES_MAX_BYTES
    safe_name = safe_file_name(name)
    if len(content) > limit:
        raise NodeError(FILE_TOO_LARGE.format(name=safe_name, size=len(content), limit=limit), retryable=False)
    file_id = uuid.uuid4()
    key = f"{organization_id}/{execution_id or 'uploads'}/{file_id.hex}/{safe_name}"
    saved = file_storage().save(key, ContentFile(content))
    reference = {
        "type": FILE_TYPE,
        "id": str(file_id),
        "name": safe_name,
        "content_type": (content_type or guess_content_type(safe_name))[:200],
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "storage_key": saved,
    }
    if execution_id is not None:
        try:
            file_stored.send(
                sender=FILE_TYPE,
                reference=reference,
                organization_id=organization_id,
                execution_id=execution_id,
                node_id=node_id,
            )
        except Exception as exc:
            file_discard(saved)  # no row, no bytes: nothing half-written
            raise NodeError(NOT_RECORDED.format(name=safe_name, error=exc), retryable=True) from exc
    return reference


def file_reference(value: Any, *, organization_id: Any, field: str = "file") -> dict:
    """`value` checked as a reference to a file of this organization (a NodeError naming `field` otherwise)."""
    if not isinstance(value, dict) or value.get("type") != FILE_TYPE or not isinstance(value.get("storage_key"), str):
        raise NodeError(NOT_A_FILE.format(field=field), retryable=False)
    if not value["storage_key"].startswith(f"{organization_id}/") or ".." in value["storage_key"]:
        raise NodeError(FOREIGN_FILE.format(field=field), retryable=False)
    return {key: value.get(key) for key in REFERENCE_KEYS}


def file_load(reference: dict) -> bytes:
    """The bytes of a checked reference; they must still match its checksum."""
    storage = file_storage()
    name = str(reference.get("name") or reference["storage_key"])
    limit = settings.CONCERTMASTER_FILES_MAX_BYTES
    try:
        size = storage.size(reference["storage_key"])
    except (OSError, ClientError, BotoCoreError) as exc:
        raise NodeError(FILE_MISSING.format(name=name), retryable=False) from exc
    if size > limit:
        raise NodeError(FILE_TOO_LARGE.format(name=name, size=size, limit=limit), retryable=False)
    try:
        with storage.open(reference["storage_key"], "rb") as handle:
            content = handle.read()
    except (OSError, ClientError, BotoCoreError) as exc:
        raise NodeError(FILE_MISSING.format(name=name), retryable=False) from exc
    if reference.get("sha256") and hashlib.sha256(content).hexdigest() != reference["sha256"]:
        raise NodeError(FILE_CHANGED.format(name=name), retryable=False)
    return content


def file_discard(storage_key: str) -> None:
    """Remove a stored file (nothing when it is gone already)."""
    file_storage().delete(storage_key)


class NodeFileServices:
    """The file half of `NodeServices` for one organization (mixed into `DjangoNodeServices`)."""

    organization_id: str

    def file_write(self, *, execution_id: str, node_id: str, name: str, content: bytes, content_type: str = "") -> dict:
        return file_store(
            organization_id=self.organization_id,
            execution_id=execution_id,
            node_id=node_id,
            name=name,
            content=content,
            content_type=content_type,
        )

    def file_read(self, *, reference: Any, field: str = "file") -> tuple[dict, bytes]:
        checked = file_reference(reference, organization_id=self.organization_id, field=field)
        return checked, file_load(checked)

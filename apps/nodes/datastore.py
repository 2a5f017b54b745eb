"""The platform services a running node may use, backed by the database and Django storage.

The engine builds one `DjangoNodeServices(organization_id)` per node run and puts it in
`NodeContext.services`, so nodes reach the datastore and file storage without importing the ORM.
Every read and write is scoped to that organization.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils.text import get_valid_filename

from apps.orgs.services import Actor, audit

from .base import NodeError
from .files import NodeFileServices
from .models import DataRecord

MAX_VALUE_BYTES = 1024 * 1024
MAX_QUERY_LIMIT = 1000

VALUE_IS_NULL = "A datastore value cannot be null."
VALUE_NOT_JSON = "A datastore value must be JSON: {error}"
VALUE_TOO_LARGE = "A datastore value may not exceed {limit} bytes of JSON (got {size})."
LIMIT_OUT_OF_RANGE = "The query limit must be between 1 and {limit}."
BAD_FILE_NAME = "Invalid file name {name!r}."


def _record_dict(record: DataRecord) -> dict:
    return {
        "collection": record.collection,
        "key": record.key,
        "value": record.data,
        "updated_at": record.updated_at.isoformat(),
    }


@transaction.atomic
def datarecord_put(
    *, organization_id: str | uuid.UUID, collection: str, key: str, value: Any, actor: Actor = None
) -> tuple[DataRecord, bool]:
    """Create or replace the value stored under (collection, key); returns the record and whether it is new.

    Nodes write without an actor (the run is the record); staff fixing a record pass theirs."""
    record, created = _datarecord_put(organization_id=organization_id, collection=collection, key=key, value=value)
    if actor is not None:
        action = "datarecord.create" if created else "datarecord.update"
        data = {"collection": collection, "key": key}
        audit(actor=actor, organization=record.organization, action=action, target=record, data=data)
    return record, created


@transaction.atomic
def datarecord_delete(*, record: DataRecord, actor: Actor = None) -> None:
    data = {"collection": record.collection, "key": record.key}
    audit(actor=actor, organization=record.organization, action="datarecord.delete", target=record, data=data)
    record.delete()


def _datarecord_put(
    *, organization_id: str | uuid.UUID, collection: str, key: str, value: Any
) -> tuple[DataRecord, bool]:
    if value is None:
        raise ValidationError({"data": VALUE_IS_NULL})
    try:
        size = len(json.dumps(value).encode())
    except (TypeError, ValueError) as exc:
        raise ValidationError({"data": VALUE_NOT_JSON.format(error=exc)}) from exc
    if size > MAX_VALUE_BYTES:
        raise ValidationError({"data": VALUE_TOO_LARGE.format(limit=MAX_VALUE_BYTES, size=size)})
    lookup = {"organization_id": organization_id, "collection": collection, "key": key}
    record = DataRecord.objects.select_for_update().filter(**lookup).first()
    if record is not None:
        record.data = value
        record.full_clean(validate_constraints=False)
        record.save()
        return record, False
    record = DataRecord(**lookup, data=value)
    # The database enforces the unique key: a concurrent writer that created it first is handled below.
    record.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        record = DataRecord.objects.select_for_update().get(**lookup)
        record.data = value
        record.save()
        return record, False
    return record, True


def datarecord_get(*, organization_id: str, collection: str, key: str) -> DataRecord | None:
    return DataRecord.objects.filter(organization_id=organization_id, collection=collection, key=key).first()


def datarecord_list(*, organization_id: str, collection: str, limit: int) -> list[DataRecord]:
    """The first `limit` records of a collection, in key order."""
    if not 1 <= limit <= MAX_QUERY_LIMIT:
        raise ValidationError({"limit": LIMIT_OUT_OF_RANGE.format(limit=MAX_QUERY_LIMIT)})
    return list(
        DataRecord.objects.filter(organization_id=organization_id, collection=collection).order_by("key")[:limit]
    )


class DjangoNodeServices(NodeFileServices):
    """`NodeServices` for one organization: its datastore records and Django's default file storage.

    Bad values surface as non-retryable `NodeError`s, so nodes never handle Django exceptions.
    """

    def __init__(self, organization_id: str) -> None:
        self.organization_id = str(organization_id)

    def datastore_put(self, *, collection: str, key: str, value: Any) -> dict:
        with _as_node_error():
            record, created = datarecord_put(
                organization_id=self.organization_id, collection=collection, key=key, value=value
            )
        return {**_record_dict(record), "created": created}

    def datastore_get(self, *, collection: str, key: str) -> Any | None:
        record = datarecord_get(organization_id=self.organization_id, collection=collection, key=key)
        return None if record is None else record.data

    def datastore_query(self, *, collection: str, limit: int) -> list[dict]:
        with _as_node_error():
            records = datarecord_list(organization_id=self.organization_id, collection=collection, limit=limit)
        return [_record_dict(record) for record in records]

    def storage_save(self, *, name: str, content: bytes) -> str:
        """Save under an unguessable per-organization folder and return the file's URL."""
        try:
            safe_name = get_valid_filename(name.rsplit("/", 1)[-1])
        except SuspiciousFileOperation as exc:
            raise NodeError(BAD_FILE_NAME.format(name=name), retryable=False) from exc
        path = f"nodes/{self.organization_id}/{uuid.uuid4().hex}/{safe_name}"
        saved = default_storage.save(path, ContentFile(content))
        return default_storage.url(saved)


@contextmanager
def _as_node_error() -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        messages = [f"{field}: {message}" for field, errors in exc.message_dict.items() for message in errors]
        raise NodeError("; ".join(messages), retryable=False, data={"errors": exc.message_dict}) from exc

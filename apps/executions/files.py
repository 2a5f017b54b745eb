"""An execution's files: the rows behind the references (apps/nodes/files.py), their short-lived download URLs,
and their removal from storage with the execution (retention prunes executions; the bytes follow the rows).

Download URLs: a presigned URL on S3-compatible storage; on the local filesystem a signed URL of
`/files/<token>` (django.core.signing, valid CONCERTMASTER_FILES_URL_SECONDS) served by `file_download`.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.urls import reverse

from apps.nodes import files as node_files

from .file_models import ExecutionFile
from .models import WorkflowExecution

logger = logging.getLogger(__name__)

DOWNLOAD_SALT = "concertmaster.files.download"
LINK_EXPIRED = "This download link has expired or is not valid."


def _row(
    *, reference: dict, organization_id: Any, execution_id: Any, node_id: str = "", field: str = ""
) -> ExecutionFile:
    row = ExecutionFile(
        pk=reference["id"],
        organization_id=organization_id,
        execution_id=execution_id,
        node_id=node_id[:100],
        field=field[:200],
        name=reference["name"],
        content_type=reference["content_type"],
        size=reference["size"],
        sha256=reference["sha256"],
        storage_key=reference["storage_key"],
    )
    row.full_clean(validate_constraints=False)
    return row


@receiver(node_files.file_stored)
def execution_file_record(*, reference: dict, organization_id: Any, execution_id: Any, node_id: str, **_: Any) -> None:
    """A node wrote a file: list it with its execution (so the run shows it and retention removes it)."""
    _row(reference=reference, organization_id=organization_id, execution_id=execution_id, node_id=node_id).save()


@transaction.atomic
def execution_files_attach(*, execution: WorkflowExecution, uploads: list[tuple[str, dict]]) -> list[ExecutionFile]:
    """List the files uploaded with the call or submission that started `execution` ((field, reference) pairs)."""
    rows = [
        _row(reference=reference, organization_id=execution.organization_id, execution_id=execution.pk, field=field)
        for field, reference in uploads
    ]
    return ExecutionFile.objects.bulk_create(rows)


@receiver(post_delete, sender=ExecutionFile)
def _discard_stored_bytes(sender: type, instance: ExecutionFile, **_: Any) -> None:
    """A deleted row (an execution pruned or deleted) takes its bytes along once the deletion is committed."""
    transaction.on_commit(partial(_discard, instance.storage_key))


def _discard(storage_key: str) -> None:
    try:
        node_files.file_discard(storage_key)
    except Exception:  # storage down: the row is gone already; an orphan is logged, not raised at the pruner
        logger.exception("files.discard_failed", extra={"storage_key": storage_key})


def execution_file_list(*, execution: WorkflowExecution):
    return ExecutionFile.objects.filter(execution=execution, organization_id=execution.organization_id)


def execution_file_get(*, execution: WorkflowExecution, pk: Any) -> ExecutionFile | None:
    return execution_file_list(execution=execution).filter(pk=pk).first()


def execution_file_url(*, file: ExecutionFile) -> str:
    """A short-lived URL that downloads the file (presigned on S3, signed for the local view)."""
    from storages.backends.s3 import S3Storage

    storage = node_files.file_storage()
    seconds = settings.CONCERTMASTER_FILES_URL_SECONDS
    if isinstance(storage, S3Storage):
        disposition = f'attachment; filename="{file.name}"'
        return storage.url(
            file.storage_key,
            parameters={"ResponseContentDisposition": disposition, "ResponseContentType": file.content_type},
            expire=seconds,
        )
    token = signing.dumps({"f": str(file.pk), "o": str(file.organization_id)}, salt=DOWNLOAD_SALT, compress=True)
    return reverse("file-download", kwargs={"token": token})


def file_by_token(token: str) -> ExecutionFile | None:
    """The file a signed local download token names, while the token is valid and the row exists."""
    try:
        data = signing.loads(token, salt=DOWNLOAD_SALT, max_age=settings.CONCERTMASTER_FILES_URL_SECONDS)
    except signing.BadSignature:
        return None
    return ExecutionFile.objects.filter(pk=data.get("f"), organization_id=data.get("o")).first()

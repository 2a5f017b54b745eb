"""multipart/form-data uploads to webhooks and forms: read within the limits, checked per field, stored as files.

A call's files reach the run as references in `trigger.files` (`{field: reference}`, a list when a field holds
several files); its other fields are `trigger.body`. The bytes are stored before the run starts and listed with it
in the transaction that starts it (`execution_files_attach`); a call that starts nothing (refused, a repeat, a
failure) leaves nothing in storage (`uploads_discarded`).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from rest_framework import exceptions

from apps.core.api.exceptions import PayloadTooLarge
from apps.nodes import files as node_files
from apps.nodes.base import NodeError

MULTIPART = "multipart/form-data"
UPLOAD_BODY_TOO_LARGE = "The upload is larger than {limit} bytes."
UPLOAD_FILE_TOO_LARGE = "The file in field {field!r} is larger than {limit} bytes."
UPLOAD_TYPE_REFUSED = (
    "The file in field {field!r} has content type {content_type!r}, which is not accepted ({allowed})."
)
UPLOAD_MALFORMED = "The multipart body cannot be parsed: {error}"
UPLOAD_EMPTY_NAME = "The file in field {field!r} has no file name."


def is_multipart(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == MULTIPART


def read_body(request: Any) -> bytes:
    """The raw multipart body (what a signature covers), at most CONCERTMASTER_UPLOAD_MAX_BODY_BYTES (413 beyond).

    Read from the stream rather than `request.body`, whose DATA_UPLOAD_MAX_MEMORY_SIZE is meant for form fields."""
    limit = settings.CONCERTMASTER_UPLOAD_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise PayloadTooLarge(UPLOAD_BODY_TOO_LARGE.format(limit=limit))
    body = request._request.read(limit + 1) if hasattr(request, "_request") else request.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(UPLOAD_BODY_TOO_LARGE.format(limit=limit))
    return body


@dataclass
class Upload:
    """A parsed multipart call: its plain fields, and its files (field, name, content type, bytes)."""

    fields: dict[str, Any]
    files: list[tuple[str, str, str, bytes]] = field(default_factory=list)


def parse(*, meta: dict, content_type: str, body: bytes) -> Upload:
    """Parse and check a multipart body: every file within CONCERTMASTER_UPLOAD_MAX_FILE_BYTES (413) and of an
    accepted content type (400); each error names the field at fault."""
    headers = {**meta, "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body))}
    try:
        post, files = MultiPartParser(headers, io.BytesIO(body), _upload_handlers()).parse()
    except (MultiPartParserError, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent, ValueError) as error:
        raise exceptions.ParseError(UPLOAD_MALFORMED.format(error=error)) from error
    upload = Upload(fields={key: values[-1] if len(values) == 1 else values for key, values in post.lists()})
    allowed = [kind.lower() for kind in settings.CONCERTMASTER_UPLOAD_CONTENT_TYPES]
    limit = settings.CONCERTMASTER_UPLOAD_MAX_FILE_BYTES
    for name, handles in files.lists():
        for handle in handles:
            kind = (handle.content_type or "application/octet-stream").split(";", 1)[0].strip().lower()
            if handle.size > limit:
                raise PayloadTooLarge(UPLOAD_FILE_TOO_LARGE.format(field=name, limit=limit))
            if kind not in allowed:
                message = UPLOAD_TYPE_REFUSED.format(field=name, content_type=kind, allowed=", ".join(allowed))
                raise exceptions.ValidationError({name: [message]})
            if not handle.name:
                raise exceptions.ValidationError({name: [UPLOAD_EMPTY_NAME.format(field=name)]})
            upload.files.append((name, handle.name, kind, handle.read()))
    return upload


def _upload_handlers() -> list:
    from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler

    return [MemoryFileUploadHandler(), TemporaryFileUploadHandler()]


def store(*, organization_id: Any, upload: Upload) -> list[tuple[str, dict]]:
    """Put the call's files in the platform storage: (field, reference) pairs, listed with the run once it starts."""
    stored: list[tuple[str, dict]] = []
    with uploads_discarded(stored):
        for name, filename, content_type, content in upload.files:
            try:
                reference = node_files.file_store(
                    organization_id=organization_id, name=filename, content=content, content_type=content_type
                )
            except NodeError as error:
                raise exceptions.ValidationError({name: [error.message]}) from error
            stored.append((name, reference))
    return stored


def webhook_payload(*, call: Any, upload: Upload, stored: list[tuple[str, dict]]) -> dict:
    """The trigger data of a multipart webhook call: its fields as `body`, its files as `files`."""
    return {
        "body": upload.fields,
        "files": trigger_files(stored),
        "headers": call.workflow_headers(),
        "query": call.query,
        "method": call.method,
    }


def trigger_files(stored: list[tuple[str, dict]]) -> dict[str, Any]:
    """`trigger.files`: one reference per field, or a list where a field held several files."""
    grouped: dict[str, list[dict]] = {}
    for name, reference in stored:
        grouped.setdefault(name, []).append(reference)
    return {name: refs[0] if len(refs) == 1 else refs for name, refs in grouped.items()}


@contextmanager
def uploads_discarded(stored: list[tuple[str, dict]]) -> Iterator[None]:
    """Remove the stored files when the block fails: a call that starts nothing keeps nothing."""
    try:
        yield
    except BaseException:
        discard(stored)
        raise


def discard(stored: list[tuple[str, dict]]) -> None:
    for _name, reference in stored:
        node_files.file_discard(reference["storage_key"])


class UploadRefused(Exception):
    """A form's file refused (too large, a content type not accepted): shown at its field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def form_files(*, organization_id: Any, files: Any) -> list[tuple[str, dict]]:
    """Check and store the files of a form page's post (Django's `request.FILES`): (field, reference) pairs."""
    allowed = [kind.lower() for kind in settings.CONCERTMASTER_UPLOAD_CONTENT_TYPES]
    limit = settings.CONCERTMASTER_UPLOAD_MAX_FILE_BYTES
    upload = Upload(fields={})
    for name, handles in files.lists():
        for handle in handles:
            kind = (handle.content_type or "application/octet-stream").split(";", 1)[0].strip().lower()
            if handle.size > limit:
                raise UploadRefused(name, UPLOAD_FILE_TOO_LARGE.format(field=name, limit=limit))
            if kind not in allowed:
                message = UPLOAD_TYPE_REFUSED.format(field=name, content_type=kind, allowed=", ".join(allowed))
                raise UploadRefused(name, message)
            upload.files.append((name, handle.name or name, kind, handle.read()))
    stored: list[tuple[str, dict]] = []
    with uploads_discarded(stored):
        for name, filename, content_type, content in upload.files:
            try:
                reference = node_files.file_store(
                    organization_id=organization_id, name=filename, content=content, content_type=content_type
                )
            except NodeError as error:
                raise UploadRefused(name, error.message) from error
            stored.append((name, reference))
    return stored

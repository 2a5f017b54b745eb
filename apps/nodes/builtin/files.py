"""File nodes: the platform storage, S3-compatible buckets, CSV, spreadsheets and archives.

Files travel between nodes as references (apps/nodes/files.py), never as bytes in the JSON: a node that needs the
bytes reads them through `ctx.services.file_read`, a node that makes a file writes it through
`ctx.services.file_write` and outputs its reference. A node's `file` config is a reference (usually the expression
`{{ nodes.<id>.output.file }}`); without it, the node's input is the reference or an object with a `file` key.
"""

from __future__ import annotations

import base64
import binascii
import csv
import gzip
import io
import json
import zipfile
from typing import Any
from urllib.parse import urlsplit

from apps.nodes import netguard
from apps.nodes.base import Node, NodeContext, NodeError, NodeResult, NodeServices
from apps.nodes.registry import register

from .actions import CREDENTIAL_NAME, credential_data, require_services

FILE_REFERENCE = {
    "type": "object",
    "description": "A file reference (an upload in `trigger.files`, or a file node's `file` output).",
}
FILE_NAME = {"type": "string", "minLength": 1, "maxLength": 200, "description": "The file's name."}
MAX_ROWS = 100_000

NO_FILE = "No file: set `file` or give the node a file reference as input."
NOT_TEXT = "The file {name!r} is not {encoding} text."
NOT_JSON = "The file {name!r} is not JSON: {error}"
BAD_BASE64 = "`content` is not valid base64."
CONTENT_NOT_TEXT = "`content` must be a string (or any JSON value when encoding is json)."
CSV_TOO_MANY_ROWS = "The CSV has more than {limit} rows."
CSV_BAD = "The CSV cannot be parsed: {error}"
SHEET_MISSING = "The workbook {name!r} has no sheet {sheet!r} (sheets: {sheets})."
NOT_XLSX = "The file {name!r} is not an xlsx workbook."
ROWS_NOT_OBJECTS = "`rows` must be a list of objects."
NOT_ZIP = "The file {name!r} is not a zip archive."
NOT_GZIP = "The file {name!r} is not gzip data."
ARCHIVE_TOO_LARGE = "The archive {name!r} unpacks to more than {limit} bytes."
ARCHIVE_TOO_MANY = "The archive {name!r} holds more than {limit} files."
GZIP_ONE_FILE = "gzip compresses one file; got {count}."
S3_NOT_AWS = "Credential {name!r} is not an AWS / S3-compatible credential (kind 'aws')."
S3_NO_BUCKET = "No bucket: set `bucket` or name one in the credential."
S3_NO_KEY = "`key` is required for the {operation} operation."
S3_NO_SUCH_BUCKET = "The bucket {bucket!r} does not exist."
S3_NO_SUCH_KEY = "No object {key!r} in bucket {bucket!r}."
S3_REFUSED = "The S3 server refused the credential {name!r}: {code}."
S3_ERROR = "S3 {operation} failed: {code}: {message}"
S3_UNREACHABLE = "Cannot reach the S3 endpoint {endpoint}: {error}"
S3_BAD_ENDPOINT = "The credential's endpoint_url {endpoint!r} is not an http(s) URL."
S3_OBJECT_TOO_LARGE = "The object {key!r} is {size} bytes; files may not exceed {limit} bytes."
S3_CREDENTIAL_ERRORS = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken", "403"}
)

MAX_ARCHIVE_MEMBERS = 1000


def input_file(ctx: NodeContext, field: str = "file") -> tuple[dict, bytes]:
    """The checked reference the config's `field` (or the input) names, and its bytes."""
    value = ctx.config.get(field)
    if value is None:
        value = ctx.input.get("file") if isinstance(ctx.input, dict) and "storage_key" not in ctx.input else ctx.input
    if value is None:
        raise NodeError(NO_FILE, retryable=False)
    return require_services(ctx).file_read(reference=value, field=field)


def write_file(ctx: NodeContext, *, name: str, content: bytes, content_type: str = "") -> dict:
    return require_services(ctx).file_write(
        execution_id=str(ctx.execution_id), node_id=ctx.node_id, name=name, content=content, content_type=content_type
    )


def _decode(content: bytes, *, name: str, encoding: str) -> str:
    try:
        return content.decode(encoding)
    except UnicodeDecodeError as exc:
        raise NodeError(NOT_TEXT.format(name=name, encoding=encoding), retryable=False) from exc


def _rows(value: Any) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise NodeError(ROWS_NOT_OBJECTS, retryable=False)
    return value


# --- platform storage -------------------------------------------------------------------------------------------


@register
class FileWriteNode(Node):
    type_name = "file_write"
    category = "actions"
    display_name = "Write file"
    icon = "file-plus"
    description = (
        "Writes a file to the platform storage (listed with the execution, downloadable from it, pruned with it) "
        "and outputs {file} (its reference: name, content_type, size, sha256). `content` is text (utf-8), base64, "
        "or any JSON value written as JSON; without `content` the node's input is written as JSON."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "name": FILE_NAME,
            "content": {"description": "Text, base64 or JSON (see encoding); default: the node's input."},
            "encoding": {"enum": ["utf-8", "base64", "json"], "default": "utf-8"},
            "content_type": {"type": "string", "maxLength": 200},
        },
        "required": ["name"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        encoding = config.get("encoding", "utf-8")
        content = config.get("content", ctx.input)
        if encoding == "json" or "content" not in config:
            data, content_type = json.dumps(content, ensure_ascii=False).encode(), "application/json"
        elif not isinstance(content, str):
            raise NodeError(CONTENT_NOT_TEXT, retryable=False)
        elif encoding == "base64":
            try:
                data, content_type = base64.b64decode(content, validate=True), ""
            except (binascii.Error, ValueError) as exc:
                raise NodeError(BAD_BASE64, retryable=False) from exc
        else:
            data, content_type = content.encode(), ""
        file = write_file(
            ctx, name=config["name"], content=data, content_type=config.get("content_type") or content_type
        )
        return NodeResult.single({"file": file})


@register
class FileReadNode(Node):
    type_name = "file_read"
    category = "actions"
    display_name = "Read file"
    icon = "file-text"
    description = (
        "Reads a file of the platform storage (an upload, or a file another node wrote) and outputs {file, content}: "
        "content as text (utf-8), base64, or the parsed JSON value."
    )
    config_schema = {
        "type": "object",
        "properties": {"file": FILE_REFERENCE, "as": {"enum": ["text", "base64", "json"], "default": "text"}},
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        file, data = input_file(ctx)
        mode = ctx.config.get("as", "text")
        content: Any
        if mode == "base64":
            content = base64.b64encode(data).decode()
        elif mode == "json":
            try:
                content = json.loads(_decode(data, name=file["name"], encoding="utf-8"))
            except ValueError as exc:
                raise NodeError(NOT_JSON.format(name=file["name"], error=exc), retryable=False) from exc
        else:
            content = _decode(data, name=file["name"], encoding="utf-8")
        return NodeResult.single({"file": file, "content": content})


# --- CSV ----------------------------------------------------------------------------------------------------------


@register
class CsvParseNode(Node):
    type_name = "csv_parse"
    category = "transforms"
    display_name = "Parse CSV"
    icon = "file-spreadsheet"
    description = (
        "Parses a CSV file (or `text`) into rows and outputs {rows, count, columns}. With a header row each row is "
        "an object keyed by the header; without, a list of cells. Values stay strings."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "file": FILE_REFERENCE,
            "text": {"type": "string", "description": "CSV text instead of a file."},
            "delimiter": {"enum": [",", ";", "\t", "|"], "default": ","},
            "has_header": {"type": "boolean", "default": True},
            "encoding": {"enum": ["utf-8", "utf-8-sig", "latin-1"], "default": "utf-8-sig"},
            "max_rows": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS, "default": 10_000},
        },
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        if isinstance(config.get("text"), str):
            text = config["text"]
        else:
            file, data = input_file(ctx)
            text = _decode(data, name=file["name"], encoding=config.get("encoding", "utf-8-sig"))
        limit = int(config.get("max_rows", 10_000))
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=config.get("delimiter", ","), strict=True)
        try:
            table = [row for _, row in zip(range(limit + 2), reader, strict=False)]
        except csv.Error as exc:
            raise NodeError(CSV_BAD.format(error=exc), retryable=False) from exc
        header = table.pop(0) if config.get("has_header", True) and table else []
        if len(table) > limit:
            raise NodeError(CSV_TOO_MANY_ROWS.format(limit=limit), retryable=False)
        rows: list[Any] = [dict(zip(header, row, strict=False)) for row in table] if header else table
        return NodeResult.single({"rows": rows, "count": len(rows), "columns": header})


# --- spreadsheets -------------------------------------------------------------------------------------------------


@register
class SpreadsheetNode(Node):
    type_name = "spreadsheet"
    category = "transforms"
    display_name = "Spreadsheet (xlsx)"
    icon = "sheet"
    description = (
        "read: outputs {rows, count, columns, sheets} from one sheet of an xlsx workbook (the first row is the "
        "header). write: writes `rows` (or the input's list of objects) to a new workbook and outputs {file, rows}."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "operation": {"enum": ["read", "write"]},
            "file": FILE_REFERENCE,
            "sheet": {"type": "string", "minLength": 1, "maxLength": 31},
            "name": FILE_NAME,
            "rows": {"type": "array", "items": {"type": "object"}},
            "columns": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
            "max_rows": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS, "default": 10_000},
        },
        "required": ["operation"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        return self._write(ctx) if ctx.config["operation"] == "write" else self._read(ctx)

    def _read(self, ctx: NodeContext) -> NodeResult:
        from openpyxl import load_workbook

        file, data = input_file(ctx)
        try:
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for a non-workbook
            raise NodeError(NOT_XLSX.format(name=file["name"]), retryable=False) from exc
        sheet_name = ctx.config.get("sheet") or workbook.sheetnames[0]
        if sheet_name not in workbook.sheetnames:
            sheets = ", ".join(workbook.sheetnames)
            raise NodeError(SHEET_MISSING.format(name=file["name"], sheet=sheet_name, sheets=sheets), retryable=False)
        limit = int(ctx.config.get("max_rows", 10_000))
        values = workbook[sheet_name].iter_rows(values_only=True)
        header = [
            str(cell) if cell is not None else f"column_{index + 1}" for index, cell in enumerate(next(values, ()))
        ]
        rows: list[dict] = []
        for row in values:
            if len(rows) == limit:
                raise NodeError(CSV_TOO_MANY_ROWS.format(limit=limit), retryable=False)
            cells = (*row, *([None] * (len(header) - len(row))))  # read-only sheets drop trailing empty cells
            rows.append({column: _cell_json(cell) for column, cell in zip(header, cells, strict=False)})
        workbook.close()
        return NodeResult.single({"rows": rows, "count": len(rows), "columns": header, "sheets": workbook.sheetnames})

    def _write(self, ctx: NodeContext) -> NodeResult:
        from openpyxl import Workbook

        rows = _rows(ctx.config.get("rows", ctx.input))
        columns = ctx.config.get("columns") or list(dict.fromkeys(key for row in rows for key in row))
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(ctx.config.get("sheet") or "Sheet1")
        sheet.append(columns)
        for row in rows:
            sheet.append([_cell_xlsx(row.get(column)) for column in columns])
        buffer = io.BytesIO()
        workbook.save(buffer)
        name = ctx.config.get("name") or "export.xlsx"
        xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        file = write_file(ctx, name=name, content=buffer.getvalue(), content_type=xlsx)
        return NodeResult.single({"file": file, "rows": len(rows), "columns": columns})


def _cell_json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _cell_xlsx(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    # A string starting with "=" would be stored as a formula: keep it text.
    return "'" + text if text.startswith("=") else text


# --- archives -----------------------------------------------------------------------------------------------------


@register
class CompressNode(Node):
    type_name = "compress"
    category = "transforms"
    display_name = "Compress"
    icon = "archive"
    description = (
        "Packs files into a zip archive, or one file into gzip, and outputs {file}. `files` is a list of file "
        "references (default: the input's reference or list of references)."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "format": {"enum": ["zip", "gzip"]},
            "files": {"type": "array", "items": FILE_REFERENCE, "minItems": 1, "maxItems": MAX_ARCHIVE_MEMBERS},
            "name": FILE_NAME,
        },
        "required": ["format"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        services = require_services(ctx)
        given = ctx.config.get("files", ctx.input)
        references = given if isinstance(given, list) else [given]
        if not references or references == [None]:
            raise NodeError(NO_FILE, retryable=False)
        files = [services.file_read(reference=ref, field=f"files/{i}") for i, ref in enumerate(references)]
        if ctx.config["format"] == "gzip":
            if len(files) != 1:
                raise NodeError(GZIP_ONE_FILE.format(count=len(files)), retryable=False)
            ((file, data),) = files
            packed = gzip.compress(data, mtime=0)
            name = ctx.config.get("name") or f"{file['name']}.gz"
            return NodeResult.single(
                {"file": write_file(ctx, name=name, content=packed, content_type="application/gzip")}
            )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for file, data in files:
                archive.writestr(file["name"], data)
        name = ctx.config.get("name") or "archive.zip"
        return NodeResult.single(
            {"file": write_file(ctx, name=name, content=buffer.getvalue(), content_type="application/zip")}
        )


@register
class DecompressNode(Node):
    type_name = "decompress"
    category = "transforms"
    display_name = "Decompress"
    icon = "archive-restore"
    description = (
        "Unpacks a zip archive (outputs {files: [references], count}) or a gzip file (outputs {file}). The unpacked "
        "size is bounded by CONCERTMASTER_FILES_MAX_BYTES and a zip by 1000 members, whatever the archive claims."
    )
    config_schema = {
        "type": "object",
        "properties": {"file": FILE_REFERENCE, "format": {"enum": ["auto", "zip", "gzip"], "default": "auto"}},
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        from django.conf import settings

        file, data = input_file(ctx)
        limit = settings.CONCERTMASTER_FILES_MAX_BYTES
        kind = ctx.config.get("format", "auto")
        if kind == "auto":
            kind = "gzip" if data[:2] == b"\x1f\x8b" else "zip"
        if kind == "gzip":
            return NodeResult.single({"file": self._gunzip(ctx, file, data, limit)})
        return NodeResult.single(self._unzip(ctx, file, data, limit))

    def _gunzip(self, ctx: NodeContext, file: dict, data: bytes, limit: int) -> dict:
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
                content = stream.read(limit + 1)  # read past the limit by one byte only: a gzip bomb stops here
        except (OSError, EOFError) as exc:
            raise NodeError(NOT_GZIP.format(name=file["name"]), retryable=False) from exc
        if len(content) > limit:
            raise NodeError(ARCHIVE_TOO_LARGE.format(name=file["name"], limit=limit), retryable=False)
        name = file["name"][:-3] if file["name"].endswith(".gz") and len(file["name"]) > 3 else f"{file['name']}.out"
        return write_file(ctx, name=name, content=content)

    def _unzip(self, ctx: NodeContext, file: dict, data: bytes, limit: int) -> dict:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise NodeError(NOT_ZIP.format(name=file["name"]), retryable=False) from exc
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) > MAX_ARCHIVE_MEMBERS:
            raise NodeError(ARCHIVE_TOO_MANY.format(name=file["name"], limit=MAX_ARCHIVE_MEMBERS), retryable=False)
        contents, total = [], 0
        for info in members:
            with archive.open(info) as stream:
                content = stream.read(limit - total + 1)  # the sizes the archive declares are not trusted
            total += len(content)
            if total > limit:
                raise NodeError(ARCHIVE_TOO_LARGE.format(name=file["name"], limit=limit), retryable=False)
            contents.append((info.filename, content))
        files = [write_file(ctx, name=name, content=content) for name, content in contents]
        return {"files": files, "count": len(files)}


# --- S3 -------------------------------------------------------------------------------------------------------------


@register
class S3Node(Node):
    type_name = "s3"
    category = "integrations"
    display_name = "S3 / MinIO"
    icon = "cloud"
    description = (
        "Works with a bucket of AWS S3 or an S3-compatible server (MinIO) named by an `aws` credential (keys, region, "
        "endpoint_url, bucket). put: uploads `file` (a reference) or `content` (text) to `key`; get: downloads `key` "
        "into the platform storage and outputs {file}; list: {objects, count, truncated} under `prefix`; delete: "
        "removes `key`; presign: a URL to GET (or PUT) `key` for `expires_seconds`. An endpoint on a private address "
        "needs a credential an administrator marked internal."
    )
    credential_fields = ("credential",)
    config_schema = {
        "type": "object",
        "properties": {
            "credential": CREDENTIAL_NAME,
            "operation": {"enum": ["put", "get", "list", "delete", "presign"]},
            "bucket": {"type": "string", "minLength": 3, "maxLength": 63},
            "key": {"type": "string", "minLength": 1, "maxLength": 1024},
            "file": FILE_REFERENCE,
            "content": {"type": "string"},
            "content_type": {"type": "string", "maxLength": 200},
            "prefix": {"type": "string", "maxLength": 1024},
            "max_keys": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1000},
            "method": {"enum": ["get", "put"], "default": "get"},
            "expires_seconds": {"type": "integer", "minimum": 1, "maximum": 604800, "default": 900},
        },
        "required": ["credential", "operation"],
        "additionalProperties": False,
    }

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        operation = config.get("operation")
        if operation in ("put", "get", "delete", "presign") and "key" not in config:
            return [("/key", S3_NO_KEY.format(operation=operation))]
        return []

    def run(self, ctx: NodeContext) -> NodeResult:
        from botocore.exceptions import BotoCoreError, ClientError

        config = ctx.config
        data = credential_data(ctx) or {}
        if data.get("kind") != "aws":
            raise NodeError(S3_NOT_AWS.format(name=config["credential"]), retryable=False)
        bucket = config.get("bucket") or data.get("bucket")
        if not bucket:
            raise NodeError(S3_NO_BUCKET, retryable=False)
        operation = config["operation"]
        if operation != "list" and not config.get("key"):
            raise NodeError(S3_NO_KEY.format(operation=operation), retryable=False)
        client = _s3_client(data, allow_private=bool(data.get("internal")) or netguard.allows_private(ctx.settings))
        try:
            return NodeResult.single(getattr(self, f"_{operation}")(ctx, client, bucket, require_services(ctx)))
        except ClientError as exc:
            raise _s3_error(
                exc, operation=operation, bucket=bucket, key=config.get("key"), name=config["credential"]
            ) from exc
        except BotoCoreError as exc:
            endpoint = data.get("endpoint_url") or "AWS"
            raise NodeError(S3_UNREACHABLE.format(endpoint=endpoint, error=exc), retryable=True) from exc

    def _put(self, ctx: NodeContext, client: Any, bucket: str, services: NodeServices) -> dict:
        config = ctx.config
        if "content" in config:
            body, content_type, file = config["content"].encode(), config.get("content_type") or "text/plain", None
        else:
            file, body = input_file(ctx)
            content_type = config.get("content_type") or file["content_type"]
        answer = client.put_object(Bucket=bucket, Key=config["key"], Body=body, ContentType=content_type)
        return {"bucket": bucket, "key": config["key"], "size": len(body), "etag": answer.get("ETag", "").strip('"')}

    def _get(self, ctx: NodeContext, client: Any, bucket: str, services: NodeServices) -> dict:
        from django.conf import settings

        key, limit = ctx.config["key"], settings.CONCERTMASTER_FILES_MAX_BYTES
        answer = client.get_object(Bucket=bucket, Key=key)
        if answer.get("ContentLength", 0) > limit:
            answer["Body"].close()
            raise NodeError(
                S3_OBJECT_TOO_LARGE.format(key=key, size=answer["ContentLength"], limit=limit), retryable=False
            )
        body = answer["Body"].read(limit + 1)
        content_type = answer.get("ContentType") or ""
        file = write_file(ctx, name=key.rsplit("/", 1)[-1] or "object", content=body, content_type=content_type)
        return {"bucket": bucket, "key": key, "file": file}

    def _list(self, ctx: NodeContext, client: Any, bucket: str, services: NodeServices) -> dict:
        answer = client.list_objects_v2(
            Bucket=bucket, Prefix=ctx.config.get("prefix", ""), MaxKeys=int(ctx.config.get("max_keys", 1000))
        )
        objects = [
            {
                "key": item["Key"],
                "size": item["Size"],
                "etag": item.get("ETag", "").strip('"'),
                "last_modified": item["LastModified"].isoformat(),
            }
            for item in answer.get("Contents", [])
        ]
        return {
            "bucket": bucket,
            "objects": objects,
            "count": len(objects),
            "truncated": answer.get("IsTruncated", False),
        }

    def _delete(self, ctx: NodeContext, client: Any, bucket: str, services: NodeServices) -> dict:
        client.head_bucket(Bucket=bucket)  # S3 answers a delete in a missing bucket with 404, a missing key with 204
        client.delete_object(Bucket=bucket, Key=ctx.config["key"])
        return {"bucket": bucket, "key": ctx.config["key"], "deleted": True}

    def _presign(self, ctx: NodeContext, client: Any, bucket: str, services: NodeServices) -> dict:
        method = "put_object" if ctx.config.get("method", "get") == "put" else "get_object"
        seconds = int(ctx.config.get("expires_seconds", 900))
        client.head_bucket(Bucket=bucket)  # presigning is offline: say now that the bucket is missing
        url = client.generate_presigned_url(
            method, Params={"Bucket": bucket, "Key": ctx.config["key"]}, ExpiresIn=seconds
        )
        return {
            "bucket": bucket,
            "key": ctx.config["key"],
            "url": url,
            "method": ctx.config.get("method", "get"),
            "expires_seconds": seconds,
        }


def _s3_client(data: dict, *, allow_private: bool) -> Any:
    import boto3
    from botocore.config import Config

    endpoint = data.get("endpoint_url") or None
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NodeError(S3_BAD_ENDPOINT.format(endpoint=endpoint), retryable=False)
        try:
            netguard.pinned_address(parts.hostname, parts.port or 443, allow_private=allow_private)
        except (netguard.BlockedAddressError, netguard.UnresolvableHostError) as exc:
            raise NodeError(str(exc), retryable=False) from exc
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=data.get("region") or None,
        aws_access_key_id=data.get("access_key_id"),
        aws_secret_access_key=data.get("secret_access_key"),
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint else "auto"},
            connect_timeout=10,
            read_timeout=60,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )


def _s3_error(exc: Any, *, operation: str, bucket: str, key: str | None, name: str) -> NodeError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in ("NoSuchBucket",) or (code == "404" and operation in ("delete", "presign", "list")):
        return NodeError(S3_NO_SUCH_BUCKET.format(bucket=bucket), retryable=False)
    if code in ("NoSuchKey", "404"):
        return NodeError(S3_NO_SUCH_KEY.format(key=key, bucket=bucket), retryable=False)
    if code in S3_CREDENTIAL_ERRORS:
        return NodeError(S3_REFUSED.format(name=name, code=code), retryable=False)
    message = S3_ERROR.format(operation=operation, code=code, message=error.get("Message", ""))
    return NodeError(message, retryable=status >= 500 or status in (408, 429))

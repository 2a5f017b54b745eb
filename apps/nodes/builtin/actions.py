"""Action nodes: they do something outside the workflow (a request, an email, a record, a file, a log line)."""

from __future__ import annotations

import csv
import io
import json
import logging
from typing import Any

from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.utils import DNS_NAME
from django.core.validators import validate_email

from apps.nodes import credential_kinds, http, netguard
from apps.nodes.base import MAIN, Node, NodeContext, NodeError, NodeResult, NodeServices
from apps.nodes.registry import register
from apps.nodes.smtp import GuardedSMTPBackend, deliver

CREDENTIAL_MISSING = "Credential {name!r} is not available to this node."
CREDENTIAL_INCOMPLETE = "Credential {name!r} lacks {field!r}."
HTTP_STATUS_ERROR = "{method} {url} answered HTTP {status}."
SERVICES_UNAVAILABLE = "Platform services are not available to this node."
INVALID_EMAIL = "Invalid email address {address!r} in {field!r}."
ROWS_NOT_A_LIST = "CSV rows must be a list of objects (got {type})."
ROW_NOT_AN_OBJECT = "CSV row {index} is not an object (got {type})."
TOO_MANY_ROWS = "A CSV export may hold at most {limit} rows (got {count})."

IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Methods whose requests carry `Idempotency-Key` (GET, HEAD and OPTIONS have no side effects to repeat).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
SCALAR_MAP = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
CREDENTIAL_NAME = {"type": "string", "minLength": 1, "maxLength": 200, "description": "Name of a Credential."}
COLLECTION_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"}
RECORD_KEY = {"type": "string", "minLength": 1, "maxLength": 200}


def credential_data(ctx: NodeContext, field: str = "credential") -> dict | None:
    """The decrypted data of the credential named in `ctx.config[field]`, or None when none is named."""
    name = ctx.config.get(field)
    if not name:
        return None
    data = ctx.credentials.get(name)
    if data is None:
        raise NodeError(CREDENTIAL_MISSING.format(name=name), retryable=False)
    return data


def credential_value(ctx: NodeContext, key: str, field: str = "credential") -> str:
    """One required entry of the named credential (e.g. a token or a secret)."""
    data = credential_data(ctx, field) or {}
    value = data.get(key)
    if not value:
        raise NodeError(CREDENTIAL_INCOMPLETE.format(name=ctx.config.get(field), field=key), retryable=False)
    return str(value)


def require_services(ctx: NodeContext) -> NodeServices:
    if ctx.services is None:
        raise NodeError(SERVICES_UNAVAILABLE, retryable=False)
    return ctx.services


def status_error(method: str, url: str, response: http.HttpResponse) -> NodeError:
    """The error for a non-2xx answer: worth retrying only when the server may recover (5xx, 408, 429)."""
    status = response.status
    return NodeError(
        HTTP_STATUS_ERROR.format(method=method, url=http.redact(url), status=status),
        retryable=status >= 500 or status in (408, 429),
        data=response.as_output(),
    )


@register
class HttpRequestNode(Node):
    type_name = "http_request"
    category = "actions"
    display_name = "HTTP request"
    icon = "globe"
    description = (
        "Sends an HTTP request with httpx and outputs the response's status, headers and body (parsed when "
        "the server answers JSON). Query parameters, headers and a JSON or form body come from the config; "
        "a credential adds authentication (bearer, basic, header, query, OAuth2 client credentials or "
        "authorization code). "
        "Answers outside 2xx fail the node unless "
        "fail_on_status is false. Private, loopback and link-local addresses are refused (also after "
        "redirects) unless the administrator allows them. POST, PUT, PATCH and DELETE carry an Idempotency-Key "
        "header, the same on every attempt of the node in an execution, unless the headers set one."
    )
    credential_fields = ("credential",)
    config_schema = {
        "type": "object",
        "properties": {
            "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]},
            "url": {"type": "string", "format": "uri", "pattern": "^https?://"},
            "headers": STRING_MAP,
            "query": SCALAR_MAP,
            "json": {"description": "JSON body (any value)."},
            "form": SCALAR_MAP,
            "credential": CREDENTIAL_NAME,
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 300, "default": 30},
            "follow_redirects": {"type": "boolean", "default": True},
            "fail_on_status": {"type": "boolean", "default": True},
        },
        "required": ["method", "url"],
        "not": {"required": ["json", "form"]},
        "additionalProperties": False,
    }

    @classmethod
    def breaker_target(cls, config: dict) -> str | None:
        return http.breaker_host(config.get("url"))

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        headers = dict(config.get("headers") or {})
        if config["method"] in UNSAFE_METHODS and not any(name.lower() == "idempotency-key" for name in headers):
            headers[IDEMPOTENCY_HEADER] = ctx.idempotency_key  # a repeated attempt is the same call to the server
        body: dict[str, Any] = {}
        if "json" in config:
            body["json"] = config["json"]
        elif "form" in config:
            body["data"] = {key: _form_value(value) for key, value in config["form"].items()}
        data = credential_data(ctx)
        response = self._send(ctx, headers, data, body)
        if response.status == 401 and data is not None:
            # An OAuth2 token the server no longer takes (revoked, expired early): fetch a new one, once.
            key = credential_kinds.http_auth(
                config["credential"], data, settings=ctx.settings, organization_id=ctx.organization_id
            ).oauth_key
            if key is not None:
                credential_kinds.oauth2_forget(key)
                response = self._send(ctx, headers, data, body)
        if not response.ok and config.get("fail_on_status", True):
            raise status_error(config["method"], config["url"], response)
        return NodeResult.single(response.as_output())

    @staticmethod
    def _send(ctx: NodeContext, headers: dict[str, str], data: dict | None, body: dict) -> http.HttpResponse:
        config = ctx.config
        params = dict(config.get("query") or {})
        headers = dict(headers)
        auth = None
        if data is not None:
            found = credential_kinds.http_auth(
                config["credential"], data, settings=ctx.settings, organization_id=ctx.organization_id
            )
            headers.update(found.headers)
            params.update(found.params)
            auth = found.auth
        return http.send(
            settings=ctx.settings,
            method=config["method"],
            url=config["url"],
            headers=headers,
            params=params or None,
            auth=auth,
            timeout=config.get("timeout_seconds", http.DEFAULT_TIMEOUT_SECONDS),
            follow_redirects=config.get("follow_redirects", True),
            **body,
        )


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


EMAIL = {"type": "string", "format": "email"}
# One address or a list of them. Not an anyOf: an anyOf fails as a whole, hiding which list item is wrong and
# flagging lists of `{{ ... }}` items, which validation can only skip one string at a time.
ADDRESSES = {"type": ["string", "array"], "format": "email", "items": EMAIL, "minItems": 1, "maxItems": 100}


@register
class EmailSendNode(Node):
    type_name = "email_send"
    category = "actions"
    display_name = "Send email"
    icon = "mail"
    description = (
        "Sends an email through Django's email backend: recipients (to, cc, bcc, reply_to: one address or "
        "a list), a subject, a plain-text body and an optional HTML alternative. With an "
        "SMTP credential ({host, port, username, password, use_tls, use_ssl}) it sends through that "
        "server instead of the platform's configured backend; that server may not be at a private, loopback or "
        "link-local address unless the administrator allows them. Outputs the recipients and the Message-ID."
    )
    credential_fields = ("credential",)
    config_schema = {
        "type": "object",
        "properties": {
            "to": ADDRESSES,
            "cc": ADDRESSES,
            "bcc": ADDRESSES,
            "reply_to": ADDRESSES,
            "from_email": EMAIL,
            "subject": {"type": "string", "maxLength": 998},
            "body": {"type": "string"},
            "html": {"type": "string"},
            "credential": CREDENTIAL_NAME,
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 300, "default": 30},
        },
        "required": ["to", "subject", "body"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        recipients: dict[str, Any] = {field: _addresses(config, field) for field in ("to", "cc", "bcc", "reply_to")}
        from_email = config.get("from_email") or None
        if from_email:
            _check_address(from_email, "from_email")
        message_id = mail.make_msgid(domain=DNS_NAME)
        message = mail.EmailMultiAlternatives(
            subject=config["subject"],
            body=config["body"],
            from_email=from_email,
            connection=self._connection(ctx),
            headers={"Message-ID": message_id},
            **recipients,
        )
        if config.get("html"):
            message.attach_alternative(config["html"], "text/html")
        deliver(message, server=self._server(ctx))
        return NodeResult.single(
            {"to": recipients["to"], "cc": recipients["cc"], "subject": config["subject"], "message_id": message_id}
        )

    def _connection(self, ctx: NodeContext) -> Any:
        timeout = ctx.config.get("timeout_seconds", 30)
        data = credential_data(ctx)
        if data is None:
            return mail.get_connection(fail_silently=False)
        if not data.get("host"):
            raise NodeError(CREDENTIAL_INCOMPLETE.format(name=ctx.config["credential"], field="host"), retryable=False)
        # The member's server, not the operator's backend: under the private-address rule.
        return GuardedSMTPBackend(
            allow_private=netguard.allows_private(ctx.settings),
            fail_silently=False,
            host=data["host"],
            port=int(data.get("port") or 587),
            username=data.get("username") or "",
            password=data.get("password") or "",
            use_tls=bool(data.get("use_tls", False)),
            use_ssl=bool(data.get("use_ssl", False)),
            timeout=timeout,
        )

    def _server(self, ctx: NodeContext) -> str:
        """`host:port` of the credential's server for the server log ("backend" without a credential)."""
        data = ctx.credentials.get(ctx.config.get("credential") or "") or {}
        return f"{data['host']}:{data.get('port') or 587}" if data.get("host") else "backend"


def _addresses(config: dict, field: str) -> list[str]:
    value = config.get(field) or []
    addresses = [value] if isinstance(value, str) else list(value)
    for address in addresses:
        _check_address(address, field)
    return addresses


def _check_address(address: Any, field: str) -> None:
    try:
        validate_email(address)
    except ValidationError as exc:
        raise NodeError(INVALID_EMAIL.format(address=address, field=field), retryable=False) from exc


@register
class DatastoreWriteNode(Node):
    type_name = "datastore_write"
    category = "actions"
    display_name = "Datastore write"
    icon = "database"
    description = (
        "Stores a JSON value under a key in one of the organization's datastore collections, replacing "
        "any previous value for that key. The value comes from the config, or is the node's input when the "
        "config has none. Outputs the stored record with created=true when the key is new. This is the "
        "platform's own database: records persist across executions and are read back by datastore_read."
    )
    config_schema = {
        "type": "object",
        "properties": {"collection": COLLECTION_NAME, "key": RECORD_KEY, "value": {"description": "Any JSON."}},
        "required": ["collection", "key"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        value = config.get("value", ctx.input)
        services = require_services(ctx)
        record = services.datastore_put(collection=config["collection"], key=str(config["key"]), value=value)
        return NodeResult.single(record)


@register
class DatastoreReadNode(Node):
    type_name = "datastore_read"
    category = "actions"
    display_name = "Datastore read"
    icon = "database"
    description = (
        "Reads the organization's datastore. With a key, outputs {found, key, value} for that one record "
        "(and fails when it is missing if fail_if_missing is true); without a key, outputs {records, count} "
        "with up to limit records of the collection in key order, each {collection, key, value, updated_at}."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "collection": COLLECTION_NAME,
            "key": RECORD_KEY,
            "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
            "fail_if_missing": {"type": "boolean", "default": False},
        },
        "required": ["collection"],
        "additionalProperties": False,
    }

    MISSING = "No record {key!r} in collection {collection!r}."

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        services = require_services(ctx)
        if "key" not in config:
            records = services.datastore_query(collection=config["collection"], limit=config.get("limit", 100))
            return NodeResult.single({"records": records, "count": len(records)})
        key = str(config["key"])
        value = services.datastore_get(collection=config["collection"], key=key)
        if value is None and config.get("fail_if_missing", False):
            raise NodeError(self.MISSING.format(key=key, collection=config["collection"]), retryable=False)
        return NodeResult.single({"found": value is not None, "key": key, "value": value})


@register
class CsvExportNode(Node):
    type_name = "csv_export"
    category = "actions"
    display_name = "CSV export"
    icon = "file-spreadsheet"
    description = (
        "Writes a list of objects as a CSV file to the platform's file storage and outputs {file, rows, columns, "
        "filename}: `file` is its reference (listed with the execution, downloadable from it, readable by file nodes). "
        "Rows come from the config or, when absent, from the node's input; columns default to every "
        "key in order of first appearance. Nested values are written as JSON, and cells that a spreadsheet "
        "would run as a formula (=, +, -, @) are prefixed with a quote unless escape_formulas is false."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "filename": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,150}\.csv$"},
            "rows": {"type": "array", "items": {"type": "object"}},
            "columns": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
            "delimiter": {"enum": [",", ";", "\t", "|"], "default": ","},
            "include_header": {"type": "boolean", "default": True},
            "escape_formulas": {"type": "boolean", "default": True},
        },
        "required": ["filename"],
        "additionalProperties": False,
    }

    MAX_ROWS = 100_000

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        rows = self._rows(config.get("rows", ctx.input))
        columns = config.get("columns") or list(dict.fromkeys(key for row in rows for key in row))
        escape = config.get("escape_formulas", True)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=config.get("delimiter", ","), lineterminator="\r\n")
        if columns and config.get("include_header", True):
            writer.writerow([_cell(column, escape) for column in columns])
        for row in rows:
            writer.writerow([_cell(row.get(column), escape) for column in columns])
        file = require_services(ctx).file_write(
            execution_id=str(ctx.execution_id),
            node_id=ctx.node_id,
            name=config["filename"],
            content=buffer.getvalue().encode(),
            content_type="text/csv",
        )
        return NodeResult.single({"file": file, "rows": len(rows), "columns": columns, "filename": config["filename"]})

    def _rows(self, rows: Any) -> list[dict]:
        if not isinstance(rows, list):
            raise NodeError(ROWS_NOT_A_LIST.format(type=type(rows).__name__), retryable=False)
        if len(rows) > self.MAX_ROWS:
            raise NodeError(TOO_MANY_ROWS.format(limit=self.MAX_ROWS, count=len(rows)), retryable=False)
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                raise NodeError(ROW_NOT_AN_OBJECT.format(index=index, type=type(row).__name__), retryable=False)
        return rows


def _cell(value: Any, escape_formulas: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    # A cell starting with one of these runs as a formula in spreadsheet applications (CSV injection).
    if escape_formulas and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


@register
class WebhookResponseNode(Node):
    type_name = "webhook_response"
    category = "actions"
    display_name = "Webhook response"
    icon = "reply"
    description = (
        "Sets the HTTP response a synchronous webhook returns to its caller: a status code, headers and a "
        "body (any JSON value; the node's input when the config has none). The node outputs that response "
        "as {status, headers, body}, and the webhook endpoint answers with it once the workflow reaches it."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "status": {"type": "integer", "minimum": 100, "maximum": 599, "default": 200},
            "headers": STRING_MAP,
            "body": {"description": "Any JSON."},
        },
        "required": ["status"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        response = {"status": config["status"], "headers": dict(config.get("headers") or {})}
        return NodeResult.single({**response, "body": config.get("body", ctx.input)})


LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


@register
class LogNode(Node):
    type_name = "log"
    category = "actions"
    display_name = "Log"
    icon = "scroll-text"
    description = (
        "Writes a message to the execution's log at the chosen level (debug, info, warning or error), "
        "tagged with the execution and node ids, and outputs {message, level}. Use it to record values "
        "while building a workflow; a message that renders to a non-string value is logged as JSON."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "message": {"description": "Text to log; any value is accepted and logged as JSON."},
            "level": {"enum": list(LOG_LEVELS), "default": "info"},
        },
        "required": ["message"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        message = ctx.config["message"]
        text = message if isinstance(message, str) else json.dumps(message, default=str)
        level = ctx.config.get("level", "info")
        ctx.logger.log(LOG_LEVELS[level], text, extra={"execution_id": ctx.execution_id, "node_id": ctx.node_id})
        return NodeResult.single({"message": text, "level": level}, port=MAIN)


@register
class SetExecutionDataNode(Node):
    type_name = "set_execution_data"
    category = "actions"
    display_name = "Set execution data"
    icon = "tags"
    description = (
        "Attaches key-values to the execution (custom data: listed with it and searchable in the execution list) "
        "and passes its input on. Keys up to 50 characters, values strings up to 255 characters, numbers or "
        "booleans; null removes a key; at most 20 keys per execution."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "data": {
                "type": "object",
                "description": 'Key-values to attach, e.g. {"customer": "{{ trigger.body.email }}"}.',
                "propertyNames": {"minLength": 1, "maxLength": 50},
                "maxProperties": 20,
            }
        },
        "required": ["data"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        for key, value in ctx.config["data"].items():
            ctx.set_custom_data(key, value)
        return NodeResult.single(ctx.input)

"""Parsers that refuse oversized bodies with a 413 instead of reading them whole, and JSON nested too deeply with a
400."""

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

from apps.core.jsonparse import JSONTooDeep, json_loads_bounded

from .exceptions import BODY_TOO_LARGE, PayloadTooLarge


def body_limit() -> int:
    return settings.CONCERTMASTER_API_MAX_BODY_BYTES


def check_declared_length(request_meta: dict) -> None:
    """Refuse early when the client declares a body over the limit."""
    try:
        declared = int(request_meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > body_limit():
        raise PayloadTooLarge(BODY_TOO_LARGE.format(limit=body_limit()))


class LimitedStream:
    """Wraps a stream and raises PayloadTooLarge past the limit (covers bodies without Content-Length)."""

    def __init__(self, stream, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.read_so_far = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(self.limit + 1 - self.read_so_far if size < 0 else size)
        self.read_so_far += len(chunk)
        if self.read_so_far > self.limit:
            raise PayloadTooLarge(BODY_TOO_LARGE.format(limit=self.limit))
        return chunk


class LimitedJSONParser(JSONParser):
    """JSON with a body size limit and a nesting limit (CONCERTMASTER_JSON_MAX_DEPTH)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context.get("request")
        if request is not None:
            check_declared_length(request.META)
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        body = LimitedStream(stream, body_limit()).read()
        try:
            return json_loads_bounded(body.decode(encoding), parse_constant=strict_constant if self.strict else None)
        except JSONTooDeep as exc:
            raise ParseError(exc.message) from exc
        except ValueError as exc:  # malformed JSON or text (UnicodeDecodeError is a ValueError)
            raise ParseError(f"JSON parse error - {exc}") from exc

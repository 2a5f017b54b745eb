"""Parsers that refuse oversized bodies with a 413 instead of reading them whole."""

from django.conf import settings
from rest_framework.parsers import JSONParser

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
    """JSON with a body size limit."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        if request is not None:
            check_declared_length(request.META)
        return super().parse(LimitedStream(stream, body_limit()), media_type, parser_context)

"""JSON parsing with a nesting limit, for every entry point that reads JSON from outside (API bodies, public
webhook and form bodies, WebSocket messages, imports).

Python's json module recurses per level and raises RecursionError near 1,000 levels, which nothing turns into
a 400 by itself; deep data also slows every later walk over it. `json_loads_bounded` refuses a document nested
deeper than CONCERTMASTER_JSON_MAX_DEPTH with `JSONTooDeep`, a `json.JSONDecodeError`, so callers that already
answer malformed JSON with a 400 answer this one too.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings

JSON_TOO_DEEP = "The JSON is nested deeper than {limit} levels."

#: A JSON string (skipped whole, so brackets inside it do not count) or one bracket.
_TOKENS: dict[type, re.Pattern[Any]] = {
    str: re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL),
    bytes: re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL),
}
_OPENING: dict[type, tuple[Any, Any]] = {str: ("[", "{"), bytes: (b"[", b"{")}


class JSONTooDeep(json.JSONDecodeError):
    """A JSON document nested deeper than the limit."""

    def __init__(self, limit: int, doc: str | bytes = "", pos: int = 0) -> None:
        super().__init__(JSON_TOO_DEEP.format(limit=limit), doc if isinstance(doc, str) else "", pos)
        self.message = JSON_TOO_DEEP.format(limit=limit)

    def __str__(self) -> str:
        return self.message


def max_depth() -> int:
    return settings.CONCERTMASTER_JSON_MAX_DEPTH


def check_depth(text: str | bytes, limit: int | None = None) -> None:
    """Raise JSONTooDeep when `text` opens more than `limit` arrays or objects inside one another.

    Counting the opening brackets (in C) settles most documents at once; only those with more brackets than the
    limit are scanned, skipping strings."""
    limit = max_depth() if limit is None else limit
    kind = bytes if isinstance(text, bytes | bytearray) else str
    opening_square, opening_curly = _OPENING[kind]
    if text.count(opening_square) + text.count(opening_curly) <= limit:
        return
    depth = 0
    for match in _TOKENS[kind].finditer(text):
        token = match.group()
        if token in _OPENING[kind]:
            depth += 1
            if depth > limit:
                raise JSONTooDeep(limit, text, match.start())
        elif len(token) == 1:
            depth -= 1


def json_loads_bounded(text: str | bytes, *, limit: int | None = None, **kwargs: Any) -> Any:
    """`json.loads(text, **kwargs)` for a document nested at most `limit` levels (the setting by default);
    raises JSONTooDeep (a json.JSONDecodeError) past it, and json.JSONDecodeError for malformed JSON."""
    limit = max_depth() if limit is None else limit
    check_depth(text, limit)
    try:
        return json.loads(text, **kwargs)
    except RecursionError as exc:  # a limit set above what the interpreter's stack allows
        raise JSONTooDeep(limit) from exc

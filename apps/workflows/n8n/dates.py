"""Luxon date formats (n8n's `toFormat`, the Date & Time node's formats) as strftime codes or as slices of ISO
text. Pure. Only tokens with one exact meaning are translated; anything else raises `Untranslatable`."""

from __future__ import annotations

import re

from .errors import Untranslatable

UNKNOWN_TOKEN = "Luxon format token {token!r} is not translated"

#: Luxon token -> strftime code (glibc's `%-` drops the zero padding, as Luxon's one-letter tokens do).
STRFTIME = {
    "yyyy": "%Y",
    "yy": "%y",
    "MMMM": "%B",
    "MMM": "%b",
    "LLLL": "%B",
    "LLL": "%b",
    "MM": "%m",
    "LL": "%m",
    "M": "%-m",
    "L": "%-m",
    "dd": "%d",
    "d": "%-d",
    "HH": "%H",
    "H": "%-H",
    "hh": "%I",
    "h": "%-I",
    "mm": "%M",
    "m": "%-M",
    "ss": "%S",
    "s": "%-S",
    "a": "%p",
    "EEEE": "%A",
    "EEE": "%a",
    "cccc": "%A",
    "ccc": "%a",
    "WW": "%V",
    "kkkk": "%G",
    "ooo": "%j",
}

#: Luxon token -> (start, end) in ISO 8601 text `YYYY-MM-DDTHH:MM:SS...`.
ISO_SLICES = {"yyyy": (0, 4), "yy": (2, 4), "MM": (5, 7), "dd": (8, 10), "HH": (11, 13), "mm": (14, 16), "ss": (17, 19)}

_TOKEN = re.compile(r"'([^']*)'|([A-Za-z])\2*|([^A-Za-z']+)")


def _pieces(fmt: str) -> list[tuple[str, str]]:
    """('literal', text) and ('token', letters) pieces of a Luxon format."""
    pieces = []
    for match in _TOKEN.finditer(fmt):
        quoted, _, literal = match.groups()
        if quoted is not None:
            pieces.append(("literal", quoted or "'"))
        elif literal is not None:
            pieces.append(("literal", literal))
        else:
            pieces.append(("token", match.group(0)))
    if sum(len(m.group(0)) for m in _TOKEN.finditer(fmt)) != len(fmt):
        raise Untranslatable(UNKNOWN_TOKEN.format(token=fmt))
    return pieces


def luxon_to_strftime(fmt: str) -> str:
    out = []
    for kind, text in _pieces(fmt):
        if kind == "literal":
            out.append(text.replace("%", "%%"))
        elif text in STRFTIME:
            out.append(STRFTIME[text])
        else:
            raise Untranslatable(UNKNOWN_TOKEN.format(token=text))
    return "".join(out)


def luxon_iso_slices(fmt: str, iso: str) -> str:
    """A Jinja expression formatting the ISO text `iso` (an expression) with the Luxon format `fmt`, when every
    token is a fixed-width field of the ISO text (yyyy, yy, MM, dd, HH, mm, ss)."""
    parts = []
    for kind, text in _pieces(fmt):
        if kind == "literal":
            parts.append(_quote(text))
        elif text in ISO_SLICES:
            start, end = ISO_SLICES[text]
            parts.append(f"{iso}[{start}:{end}]")
        else:
            raise Untranslatable(
                UNKNOWN_TOKEN.format(token=text) + " on $now / $today (only yyyy, yy, MM, dd, HH, mm, ss)"
            )
    return "(" + " ~ ".join(parts or ["''"]) + ")"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

"""Docs that must stay true as the code changes."""

import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def test_every_concertmaster_setting_is_documented():
    """docs/operations.md names every CONCERTMASTER_* variable that settings.py reads."""
    settings_source = (BASE_DIR / "concertmaster" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"(CONCERTMASTER_\w+)"', settings_source))
    documented = set(re.findall(r"CONCERTMASTER_\w+", (BASE_DIR / "docs" / "operations.md").read_text()))
    assert read, "the pattern found no settings: the test is broken"
    assert read - documented == set()

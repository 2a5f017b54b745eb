"""`UNSET`: the default of an update service's optional parameters, so that None and "" can be values too."""

from __future__ import annotations

from typing import Final


class Unset:
    """The type of UNSET: a parameter the caller did not give (the field keeps its value)."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = Unset()


def given(**values: object) -> dict:
    """The keyword arguments that are not UNSET: the fields an update service changes."""
    return {name: value for name, value in values.items() if value is not UNSET}

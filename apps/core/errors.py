"""Domain errors. One DRF exception handler maps them to 4xx responses."""


class ApplicationError(Exception):
    """A domain failure the caller can act on: a message and optional extra data."""

    def __init__(self, message: str, *, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class InvalidTransition(ApplicationError):
    """A status change the state machine does not allow from the current status."""


class Conflict(ApplicationError):
    """The request was based on a state that changed since (a stale revision); `extra` joins the error body."""

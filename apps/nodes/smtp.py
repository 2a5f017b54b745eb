"""Sending mail through an SMTP server a member's credential names, under the private-address rule.

`GuardedSMTPBackend` is Django's SMTP backend whose connections go through `netguard`: the host is
resolved and checked, the socket connects to the checked address, and STARTTLS or implicit TLS still
verify the certificate against the host name (smtplib passes its `_host` as `server_hostname`).

`deliver()` turns every failure to reach or talk to the server into one generic error, whatever the
cause (refused, closed, timed out, not an SMTP server, TLS failure, private address): different texts
would make the node a port scanner for anyone who may use the credential. The detail goes to the server
log only. A refused login or refused recipients are told apart: only a real SMTP server says those, and
the member needs them to fix the credential or the addresses.
"""

from __future__ import annotations

import logging
import smtplib
from functools import partial
from typing import Any

from django.core import mail
from django.core.mail.backends.smtp import EmailBackend

from . import netguard
from .base import NodeError

logger = logging.getLogger(__name__)

SMTP_FAILED = "Could not deliver the email through the configured SMTP server."
SMTP_AUTH_FAILED = "The SMTP server refused the login."
SMTP_RECIPIENTS_REFUSED = "The SMTP server refused the recipients: {recipients}"
EMAIL_HEADER_INVALID = "Email headers may not contain newlines: {error}"
#: `NodeError.data["reason"]` when the server's address is not allowed (known before any connection).
ADDRESS_NOT_ALLOWED = "address_not_allowed"


class _Pinned:
    """Connects smtplib to the address `netguard` checked; `_host` (TLS server name) stays the host name."""

    def __init__(self, *args: Any, allow_private: bool, **kwargs: Any) -> None:
        self.allow_private = allow_private
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float | None) -> Any:
        address = netguard.pinned_address(host, port, allow_private=self.allow_private)
        return super()._get_socket(address, port, timeout)  # type: ignore[misc]  # private, not in typeshed


class PinnedSMTP(_Pinned, smtplib.SMTP):
    """Plain SMTP (STARTTLS when asked) to the checked address."""


class PinnedSMTPSSL(_Pinned, smtplib.SMTP_SSL):
    """Implicit TLS to the checked address, verifying the credential's host name."""


class GuardedSMTPBackend(EmailBackend):
    """Django's SMTP backend under the private-address rule (`allow_private` from the node's settings)."""

    def __init__(self, *, allow_private: bool = False, **kwargs: Any) -> None:
        self.allow_private = allow_private
        super().__init__(**kwargs)

    @property
    def connection_class(self) -> Any:
        return partial(PinnedSMTPSSL if self.use_ssl else PinnedSMTP, allow_private=self.allow_private)


def deliver(message: mail.EmailMessage, *, server: str = "") -> None:
    """Send `message`; a failure is a NodeError whose text does not say why the server could not be used."""
    try:
        message.send()
    except mail.BadHeaderError as exc:
        raise NodeError(EMAIL_HEADER_INVALID.format(error=exc), retryable=False) from None
    except smtplib.SMTPAuthenticationError as exc:
        logger.info("SMTP login refused by %s: %s %r", server, exc.smtp_code, exc.smtp_error)
        raise NodeError(SMTP_AUTH_FAILED, retryable=False) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(sorted(exc.recipients))
        raise NodeError(SMTP_RECIPIENTS_REFUSED.format(recipients=refused), retryable=False) from None
    except netguard.BlockedAddressError as exc:
        logger.info("SMTP server %s refused by the private-address rule: %s", server, exc)
        raise NodeError(SMTP_FAILED, retryable=False, data={"reason": ADDRESS_NOT_ALLOWED}) from None
    except (smtplib.SMTPException, netguard.UnresolvableHostError, OSError, ValueError) as exc:
        logger.warning("Could not deliver an email through %s: %r", server, exc)
        raise NodeError(SMTP_FAILED) from None

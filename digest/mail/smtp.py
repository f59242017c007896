"""Deliver through an SMTP server, optionally with STARTTLS and a login.

Replies with a 4xx code raise TransientDeliveryError and 5xx replies raise
PermanentDeliveryError, whether the server sends them to RCPT TO or to DATA.
A rejected login, or a server without the STARTTLS or AUTH that the settings
require, raises MailConfigError, because every message fails until an
operator fixes the settings.
"""

from __future__ import annotations

import logging
import smtplib

from digest.errors import DeliveryError, MailConfigError, PermanentDeliveryError, TransientDeliveryError
from digest.mail import OutgoingEmail, SentEmail
from digest.mail.mime import build_mime

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30


class SMTPBackend:
    name = "smtp"

    def __init__(self, host: str, port: int, *, username: str | None = None,
                 password: str | None = None, starttls: bool = False,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout

    def send(self, email: OutgoingEmail) -> SentEmail:
        message = build_mime(email)
        server_name = f"{self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as server:
                if self.starttls:
                    server.starttls()
                if self.username:
                    server.login(self.username, self.password or "")
                server.send_message(message)
        except smtplib.SMTPNotSupportedError as exc:
            # smtplib raises this before sending the message when the server lacks STARTTLS,
            # AUTH, or SMTPUTF8 (which a non-ASCII address needs). Only SMTPUTF8 depends on the message.
            detail = str(exc)
            error: type[DeliveryError] = PermanentDeliveryError if "SMTPUTF8" in detail else MailConfigError
            raise error(
                f"SMTP server {server_name} does not support a required extension ({detail}): "
                f"{_unsupported_hint(detail)}"
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            reply = f"{exc.smtp_code} ({_text(exc.smtp_error)})"
            if _is_temporary(exc.smtp_code):
                raise TransientDeliveryError(
                    f"SMTP server {server_name} failed to check the login for now with {reply}: retry later."
                ) from exc
            raise MailConfigError(
                f"SMTP server {server_name} rejected the login with {reply}: "
                "check DIGEST_SMTP_USERNAME and DIGEST_SMTP_PASSWORD."
            ) from exc
        except smtplib.SMTPResponseException as exc:
            error = TransientDeliveryError if _is_temporary(exc.smtp_code) else PermanentDeliveryError
            raise error(f"SMTP server {server_name} replied {exc.smtp_code} ({_text(exc.smtp_error)}).") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            # smtplib raises this when every recipient is rejected. A 4xx code, such as greylisting, may pass later.
            replies = list(exc.recipients.values())
            temporary = bool(replies) and all(_is_temporary(code) for code, _ in replies)
            error = TransientDeliveryError if temporary else PermanentDeliveryError
            detail = "; ".join(f"{code} ({_text(text)})" for code, text in replies)
            raise error(f"SMTP server {server_name} rejected the recipient with {detail}.") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(
                f"SMTP server {server_name} could not be reached ({exc}): "
                "check DIGEST_SMTP_HOST and DIGEST_SMTP_PORT."
            ) from exc
        log.info("SMTP server accepted %s message %s", email.kind, message["Message-ID"])
        return SentEmail(message_id=message["Message-ID"])


def _unsupported_hint(detail: str) -> str:
    if "STARTTLS" in detail:
        return (
            "point DIGEST_SMTP_HOST and DIGEST_SMTP_PORT at a server that offers STARTTLS, "
            "or set DIGEST_SMTP_STARTTLS=false for a relay on a trusted network."
        )
    if "AUTH" in detail:
        return "unset DIGEST_SMTP_USERNAME, or point DIGEST_SMTP_HOST at a server that offers AUTH."
    return "point DIGEST_SMTP_HOST at a server that supports it, or use ASCII-only addresses."


def _is_temporary(code: int) -> bool:
    return 400 <= code < 500


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply

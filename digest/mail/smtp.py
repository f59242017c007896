"""Deliver through an SMTP server, optionally with STARTTLS and a login."""

from __future__ import annotations

import logging
import smtplib

from digest.errors import PermanentDeliveryError, TransientDeliveryError
from digest.mail import OutgoingEmail, SentEmail
from digest.mail.mime import build_mime

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30


class SMTPBackend:
    name = "smtp"

    def __init__(self, host: str, port: int, *, username: str | None = None,
                 password: str | None = None, starttls: bool = False) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls

    def send(self, email: OutgoingEmail) -> SentEmail:
        message = build_mime(email)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_SECONDS) as server:
                if self.starttls:
                    server.starttls()
                if self.username:
                    server.login(self.username, self.password or "")
                server.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentDeliveryError(
                f"SMTP server {self.host}:{self.port} rejected the login ({exc.smtp_code}): "
                "check DIGEST_SMTP_USERNAME and DIGEST_SMTP_PASSWORD."
            ) from exc
        except smtplib.SMTPResponseException as exc:
            error = TransientDeliveryError if 400 <= exc.smtp_code < 500 else PermanentDeliveryError
            raise error(f"SMTP server {self.host}:{self.port} answered {exc.smtp_code}: {exc.smtp_error!r}.") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentDeliveryError(f"SMTP server {self.host}:{self.port} refused the recipient.") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(
                f"SMTP server {self.host}:{self.port} could not be reached ({exc}): "
                "check DIGEST_SMTP_HOST and DIGEST_SMTP_PORT."
            ) from exc
        log.info("SMTP server accepted %s message %s", email.kind, message["Message-ID"])
        return SentEmail(message_id=message["Message-ID"])
